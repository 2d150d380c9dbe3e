using System.Text;

namespace Microsoft.ML.Preference.Modeling.Checkpoints;

/// <summary>
/// A module and a checkpoint do not match: keys the module needs are missing, the checkpoint has keys the
/// module does not, or shapes differ. The message lists them all (sorted, the first
/// <see cref="ListedPerKind"/> of each kind) with their counts and the checkpoint folder.
/// </summary>
public sealed class CheckpointMismatchException : InvalidOperationException
{
    /// <summary>How many keys of each kind the message spells out; the properties hold all of them.</summary>
    public const int ListedPerKind = 20;

    /// <summary>Creates the exception; the lists are sorted ordinally for the message and the properties.</summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <param name="missingKeys">Keys of the module's state dict that the checkpoint lacks.</param>
    /// <param name="unexpectedKeys">Keys of the checkpoint that the module's state dict lacks.</param>
    /// <param name="shapeMismatches">One line per key present in both with different shapes.</param>
    public CheckpointMismatchException(
        string directory,
        IEnumerable<string> missingKeys,
        IEnumerable<string> unexpectedKeys,
        IEnumerable<string>? shapeMismatches = null)
        : this(directory, Sorted(missingKeys), Sorted(unexpectedKeys), Sorted(shapeMismatches ?? []))
    {
    }

    private CheckpointMismatchException(string directory, string[] missing, string[] unexpected, string[] shapes)
        : base(Describe(directory, missing, unexpected, shapes))
    {
        Directory = directory;
        MissingKeys = Array.AsReadOnly(missing);
        UnexpectedKeys = Array.AsReadOnly(unexpected);
        ShapeMismatches = Array.AsReadOnly(shapes);
    }

    /// <summary>The checkpoint folder.</summary>
    public string Directory { get; }

    /// <summary>Every key of the module that the checkpoint lacks, sorted.</summary>
    public IReadOnlyList<string> MissingKeys { get; }

    /// <summary>Every key of the checkpoint that the module lacks, sorted.</summary>
    public IReadOnlyList<string> UnexpectedKeys { get; }

    /// <summary>Every key with a shape mismatch, as "name: checkpoint [..] vs module [..]", sorted.</summary>
    public IReadOnlyList<string> ShapeMismatches { get; }

    private static string[] Sorted(IEnumerable<string> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        return keys.Order(StringComparer.Ordinal).ToArray();
    }

    private static string Describe(string directory, string[] missing, string[] unexpected, string[] shapes)
    {
        var text = new StringBuilder($"The module does not match the checkpoint '{directory}':");
        Append(text, "missing keys (in the module, not in the checkpoint)", missing);
        Append(text, "unexpected keys (in the checkpoint, not in the module)", unexpected);
        Append(text, "shape mismatches", shapes);
        return text.ToString();
    }

    private static void Append(StringBuilder text, string title, string[] keys)
    {
        if (keys.Length == 0)
            return;
        text.Append($" {keys.Length} {title}: ");
        text.AppendJoin(", ", keys.Take(ListedPerKind));
        if (keys.Length > ListedPerKind)
            text.Append($", ... and {keys.Length - ListedPerKind} more");
        text.Append('.');
    }
}
