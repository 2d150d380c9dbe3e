using System.Security.Cryptography;
using System.Text;
using Microsoft.ML.Preference.Data;

namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>
/// Content keys for caches: a data key that changes when any row's tokens or images change, and a model key
/// that changes when a model folder's weights change (headers, sizes and sampled data blocks, so an 8B folder is
/// keyed in well under a second instead of being read whole).
/// </summary>
internal static class Fingerprints
{
    public static string Data(IEnumerable<PreparedRow> rows)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var number = new byte[8];
        void Add(long value)
        {
            BitConverter.TryWriteBytes(number, value);
            sha.AppendData(number);
        }
        void AddInts(IReadOnlyList<int> values)
        {
            Add(values.Count);
            foreach (var v in values)
                Add(v);
        }
        foreach (var row in rows)
        {
            Add(row.RowIndex);
            AddInts(row.Pair.Chosen.InputIds);
            AddInts(row.Pair.Chosen.Labels);
            AddInts(row.Pair.Rejected.InputIds);
            AddInts(row.Pair.Rejected.Labels);
            AddInts(row.TilesPerImage);
            foreach (var image in row.Example.Images)
                InMemoryRowSource.AppendImage(sha, image);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>
    /// The key a checkpoint records for its training data: the rows (by <see cref="PreferenceRowSource.Fingerprint"/>,
    /// computed without tokenising or decoding anything) and the options that change what a row becomes.
    /// </summary>
    public static string Input(PreferenceRowSource rows, MpoTrainer.Options o)
    {
        var preparation = $"{rows.Fingerprint()}|{rows.Count}|max_length={o.MaxLength}|rejected_span={o.RejectedSpan}|system={o.SystemMessage}|group_by_length={o.GroupByLength}" + (o.LengthGroupedSteps > 0 ? $"|length_grouped_steps={o.LengthGroupedSteps}" : "");
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(preparation)));
    }

    public static string ModelFolder(string folder, string variant = "")
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(Encoding.UTF8.GetBytes(variant));
        var config = Path.Combine(folder, "config.json");
        if (File.Exists(config))
            sha.AppendData(File.ReadAllBytes(config));
        var buffer = new byte[64 * 1024];
        foreach (var file in Directory.EnumerateFiles(folder, "*.safetensors").Order(StringComparer.Ordinal))
        {
            using var stream = File.OpenRead(file);
            sha.AppendData(Encoding.UTF8.GetBytes(Path.GetFileName(file)));
            sha.AppendData(BitConverter.GetBytes(stream.Length));
            // 32 evenly spaced 64 KiB blocks, the first one covering the header.
            const int samples = 32;
            for (int i = 0; i < samples; i++)
            {
                long at = stream.Length <= buffer.Length ? 0 : (stream.Length - buffer.Length) * i / (samples - 1);
                stream.Position = at;
                int read = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
                sha.AppendData(buffer, 0, read);
                if (stream.Length <= buffer.Length)
                    break;
            }
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}
