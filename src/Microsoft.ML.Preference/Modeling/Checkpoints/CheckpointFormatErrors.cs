namespace Microsoft.ML.Preference.Modeling.Checkpoints;

/// <summary>
/// Builds the <see cref="InvalidDataException"/> thrown for a malformed checkpoint file (a safetensors
/// shard or a <c>model.safetensors.index.json</c>). The message always names the file, the tensor where
/// there is one, and the problem.
/// </summary>
/// <remarks>
/// <see cref="InvalidDataException"/> is sealed, so there is no dedicated subclass: the parts are also put in
/// <see cref="Exception.Data"/> under <see cref="FilePathKey"/> and <see cref="TensorNameKey"/> for callers
/// that want them without parsing the message.
/// </remarks>
internal static class CheckpointFormatErrors
{
    /// <summary>The <see cref="Exception.Data"/> key of the file path.</summary>
    public const string FilePathKey = "CheckpointFilePath";

    /// <summary>The <see cref="Exception.Data"/> key of the tensor name (absent when the problem is file-wide).</summary>
    public const string TensorNameKey = "CheckpointTensorName";

    /// <summary>Creates the exception for <paramref name="problem"/> in <paramref name="filePath"/>.</summary>
    /// <param name="filePath">The file that is wrong.</param>
    /// <param name="tensorName">The tensor concerned, or null when the problem is not about one tensor.</param>
    /// <param name="problem">What is wrong, in words.</param>
    /// <param name="innerException">The lower-level error (a JSON parse error, say), if any.</param>
    public static InvalidDataException Create(string filePath, string? tensorName, string problem, Exception? innerException = null)
    {
        var message = tensorName is null
            ? $"Invalid checkpoint file '{filePath}': {problem}."
            : $"Invalid checkpoint file '{filePath}', tensor '{tensorName}': {problem}.";
        var e = new InvalidDataException(message, innerException);
        e.Data[FilePathKey] = filePath;
        if (tensorName is not null)
            e.Data[TensorNameKey] = tensorName;
        return e;
    }
}
