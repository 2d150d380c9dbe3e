namespace Microsoft.ML.Preference.Modeling.Lora;

/// <summary>
/// A reference to a module this one uses but does not own. TorchSharp registers every field whose value is a
/// Module, Parameter or Tensor as a child when a module is registered in a parent (<c>RegisterComponents</c>), which
/// would put the base model's layers into the adapter's parameters, state_dict, <c>to()</c> and <c>Dispose()</c>; a
/// field of this type is skipped.
/// </summary>
internal sealed class Borrowed<T>(T value) where T : class
{
    public T Value { get; } = value;
}
