namespace Microsoft.ML.Preference.Text;

/// <summary>
/// A tokenizer file of a model folder is malformed or uses a feature this loader cannot reproduce.
/// The message always names the file and the problem, so that a user can fix or report the folder.
/// </summary>
public sealed class TokenizerFileException : Exception
{
    /// <summary>Creates the exception for <paramref name="filePath"/>.</summary>
    /// <param name="filePath">The file that is at fault.</param>
    /// <param name="problem">What is wrong with it, as a sentence fragment ("has no model.vocab").</param>
    /// <param name="inner">The exception that revealed the problem, if any.</param>
    public TokenizerFileException(string filePath, string problem, Exception? inner = null)
        : base($"{filePath}: {problem}", inner)
    {
        FilePath = filePath;
        Problem = problem;
    }

    /// <summary>The file that is at fault.</summary>
    public string FilePath { get; }

    /// <summary>What is wrong with the file, without the path.</summary>
    public string Problem { get; }
}
