using System.Security.Cryptography;
using System.Text;

namespace Microsoft.ML.Preference.Data.Pairs;

/// <summary>A question to build pairs for: its images, the question and (for the correctness pipeline) the answer.</summary>
/// <param name="RowIndex">Position in the input, for messages.</param>
/// <param name="Images">Image sources (none for text-only).</param>
/// <param name="Question">The question.</param>
/// <param name="GroundTruth">The correct answer (correctness pipeline) or null.</param>
/// <param name="Response">An existing response (DropoutNTP) or null to generate one.</param>
internal sealed record PairSource(long RowIndex, IReadOnlyList<ImageSource> Images, string Question, string? GroundTruth = null, string? Response = null)
{
    /// <summary>A stable key of the row's content, so reruns recognise rows already done.</summary>
    public string Key => KeyOf(Images.Select(i => i.Describe()));

    /// <summary>
    /// The key the row's sampling seed is derived from: like <see cref="Key"/>, but with image file names instead of
    /// full paths, so that the same data in another folder (another output folder, another machine) samples the same.
    /// </summary>
    public string SeedKey => KeyOf(Images.Select(i => i is ImageSource.FromFile f ? System.IO.Path.GetFileName(f.Path) : i.Describe()));

    private string KeyOf(IEnumerable<string> images)
    {
        var text = string.Join("\u0001", images) + "\u0002" + Question + "\u0002" + GroundTruth + "\u0002" + Response;
        return RowIndex + "-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16];
    }
}

/// <summary>Progress of a pair-construction job.</summary>
/// <param name="RowsDone">Source rows finished (including those skipped because a previous run did them).</param>
/// <param name="RowsTotal">Source rows in the input.</param>
/// <param name="GeneratedTokens">Tokens generated in this run so far.</param>
/// <param name="TokensPerSecond">Generation speed in this run.</param>
/// <param name="Pairs">Pairs written in this run so far.</param>
public readonly record struct PairJobProgress(int RowsDone, int RowsTotal, long GeneratedTokens, double TokensPerSecond, int Pairs);
