using System.Security.Cryptography;
using System.Text;
using Microsoft.ML.Preference.Data.Mmpr;

namespace Microsoft.ML.Preference.Data;

/// <summary>
/// The training rows by position, read on demand: what lets the trainer visit a shuffled order and start on its
/// first batch without reading, tokenising or decoding the rest. <see cref="Read"/> is thread-safe (workers read in
/// parallel) and may throw <see cref="BadRowException"/> for a row that cannot be read (a malformed line).
/// </summary>
internal abstract class PreferenceRowSource : IDisposable
{
    /// <summary>How many rows (bad ones included: they are found when read).</summary>
    public abstract int Count { get; }

    /// <summary>What the rows are, for logs.</summary>
    public abstract string Description { get; }

    /// <summary>Row <paramref name="index"/>; its <see cref="PreferenceExample.RowIndex"/> is what errors and counts name.</summary>
    public abstract PreferenceExample Read(int index);

    /// <summary>A free measure of row <paramref name="index"/>'s length (characters or bytes of its text), for length grouping.</summary>
    public abstract int ApproximateLength(int index);

    /// <summary>A key that changes when the rows change, computed without reading them all (sizes and times of files).</summary>
    public abstract string Fingerprint();

    public virtual void Dispose()
    {
    }

    /// <summary>
    /// The rows of <paramref name="data"/>: an MMPR data view is indexed (line offsets, nothing parsed); any other
    /// IDataView is read once into memory as text and image references (no image is decoded, nothing tokenised).
    /// </summary>
    public static PreferenceRowSource For(IDataView data, PreferenceColumns columns, string? imageRoot, CancellationToken cancellationToken = default)
    {
        if (data is MmprDataView mmpr && columns.Image == PreferenceColumnNames.Image && columns.Prompt == PreferenceColumnNames.Prompt
            && columns.Chosen == PreferenceColumnNames.Chosen && columns.Rejected == PreferenceColumnNames.Rejected)
            return MmprRowSource.Build(mmpr, cancellationToken);
        var rows = new List<PreferenceExample>();
        foreach (var example in PreferenceDataReader.Read(data, columns, imageRoot))
        {
            cancellationToken.ThrowIfCancellationRequested();
            rows.Add(example);
        }
        return new InMemoryRowSource(rows, "rows of an in-memory IDataView");
    }
}

/// <summary>Rows held as text and image references (an IDataView read once, or the rows that passed a full pass).</summary>
internal sealed class InMemoryRowSource : PreferenceRowSource
{
    private readonly IReadOnlyList<PreferenceExample> _rows;

    public InMemoryRowSource(IReadOnlyList<PreferenceExample> rows, string description)
    {
        _rows = rows;
        Description = description;
    }

    public override int Count => _rows.Count;

    public override string Description { get; }

    public override PreferenceExample Read(int index) => _rows[index];

    public override int ApproximateLength(int index)
    {
        var r = _rows[index];
        return r.Prompt.Length + r.Chosen.Length + r.Rejected.Length;
    }

    public override string Fingerprint()
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var row in _rows)
        {
            sha.AppendData(BitConverter.GetBytes(row.RowIndex));
            foreach (var text in new[] { row.Prompt, row.Chosen, row.Rejected })
            {
                sha.AppendData(BitConverter.GetBytes(text.Length));
                sha.AppendData(Encoding.UTF8.GetBytes(text));
            }
            foreach (var image in row.Images)
                AppendImage(sha, image);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>A file image by full path, size and time (not its bytes: cheap, and a changed file changes it); an in-memory one by its pixels.</summary>
    internal static void AppendImage(IncrementalHash sha, ImageSource image)
    {
        switch (image)
        {
            case ImageSource.FromFile f:
                var info = new FileInfo(f.Path);
                sha.AppendData(Encoding.UTF8.GetBytes(info.FullName));
                sha.AppendData(BitConverter.GetBytes(info.Exists ? info.Length : -1));
                sha.AppendData(BitConverter.GetBytes(info.Exists ? info.LastWriteTimeUtc.Ticks : 0));
                break;
            case ImageSource.InMemory m:
                sha.AppendData(m.Image.Pixels);
                break;
        }
    }
}
