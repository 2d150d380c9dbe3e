namespace Microsoft.ML.Preference.Transformers;

/// <summary>
/// The columns an <see cref="MpoTransformer"/> adds, and their SchemaShape. ML.NET keeps SchemaShape's
/// constructors internal, so the shape is computed by a CustomMapping estimator over a class with these columns.
/// </summary>
internal static class ResponseColumns
{
    public static SchemaShape AddTo(MLContext context, SchemaShape input) =>
        context.Transforms.CustomMapping<NoInput, Output>((_, _) => { }, contractName: null).GetOutputSchema(input);

    private sealed class NoInput
    {
    }

    private sealed class Output
    {
        public string Response { get; set; } = "";
        public string Answer { get; set; } = "";
    }
}
