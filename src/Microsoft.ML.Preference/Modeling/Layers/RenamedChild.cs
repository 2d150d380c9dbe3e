namespace Microsoft.ML.Preference.Modeling.Layers;

/// <summary>
/// A child module that its parent registers with <c>register_module</c> under a Hugging Face name taken from data
/// (<see cref="Configuration.DecoderFamily"/>), not from the field's name. TorchSharp's <c>RegisterComponents</c>
/// would otherwise register every Module-typed field a second time under the field's own name; a field of this
/// type is skipped (as <see cref="Lora.Borrowed{T}"/> is), while the parent still owns the module.
/// </summary>
internal sealed class RenamedChild<T>(T value) where T : class
{
    public T Value { get; } = value;

    public static implicit operator T(RenamedChild<T> child) => child.Value;
}
