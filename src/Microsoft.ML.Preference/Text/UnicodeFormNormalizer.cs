using System.Text;
using Microsoft.ML.Tokenizers;

namespace Microsoft.ML.Preference.Text;

/// <summary>
/// HF's NFC / NFD / NFKC / NFKD normalizers (Qwen2 uses NFC: <c>e</c> + U+0301 encodes like <c>é</c>).
/// Microsoft.ML.Tokenizers ships no Unicode-form normalizer, so this is the one missing piece for BpeOptions.
/// </summary>
internal sealed class UnicodeFormNormalizer : Normalizer
{
    /// <summary>Applies <paramref name="forms"/> in order, as an HF <c>Sequence</c> normalizer does.</summary>
    public UnicodeFormNormalizer(IReadOnlyList<NormalizationForm> forms) => Forms = forms;

    /// <summary>The forms, in the order they are applied.</summary>
    public IReadOnlyList<NormalizationForm> Forms { get; }

    /// <inheritdoc />
    public override string Normalize(string original)
    {
        foreach (var form in Forms)
            original = original.Normalize(form);
        return original;
    }

    /// <inheritdoc />
    public override string Normalize(ReadOnlySpan<char> original) => Normalize(original.ToString());
}
