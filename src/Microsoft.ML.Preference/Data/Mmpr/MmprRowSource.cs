using System.Security.Cryptography;
using System.Text;

namespace Microsoft.ML.Preference.Data.Mmpr;

/// <summary>
/// The rows of an <see cref="MmprDataView"/> by position, for training: each annotation file is indexed once
/// (<see cref="JsonlLineIndex"/>, no parsing), repeat_time is applied to the index with the data view's own rule
/// (<see cref="MmprDataView.Selection"/>), and a row is parsed only when a batch needs it. Row r is the data view
/// cursor's row r. A malformed line is found when it is read, as a <see cref="BadRowException"/> naming file:line.
/// </summary>
internal sealed class MmprRowSource : PreferenceRowSource
{
    private readonly MmprDataView _view;
    private readonly JsonlLineIndex[] _indexes;
    private readonly int[][] _positions;
    private readonly int[] _starts;

    private MmprRowSource(MmprDataView view, JsonlLineIndex[] indexes, int[][] positions)
    {
        _view = view;
        _indexes = indexes;
        _positions = positions;
        _starts = new int[positions.Length + 1];
        for (int i = 0; i < positions.Length; i++)
            _starts[i + 1] = checked(_starts[i] + positions[i].Length);
    }

    public static MmprRowSource Build(MmprDataView view, CancellationToken cancellationToken)
    {
        var indexes = new JsonlLineIndex[view.Datasets.Count];
        var positions = new int[view.Datasets.Count][];
        try
        {
            for (int i = 0; i < indexes.Length; i++)
            {
                indexes[i] = JsonlLineIndex.Build(view.Datasets[i].Annotation, cancellationToken);
                positions[i] = view.Selection(indexes[i].Count, view.Datasets[i], i).Select(p => (int)p).ToArray();
            }
        }
        catch
        {
            foreach (var index in indexes)
                index?.Dispose();
            throw;
        }
        return new MmprRowSource(view, indexes, positions);
    }

    public override int Count => _starts[^1];

    public override string Description => $"{Count:N0} rows indexed in {_indexes.Length} MMPR annotation file(s)";

    private (int Dataset, int Line) Locate(int row)
    {
        if ((uint)row >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(row), $"Row {row} is outside the {Count} rows.");
        int d = Array.BinarySearch(_starts, row);
        d = d >= 0 ? d : ~d - 1;
        while (_starts[d + 1] == row && d + 1 < _positions.Length) // skip data sets that contribute no rows
            d++;
        return (d, _positions[d][row - _starts[d]]);
    }

    public override PreferenceExample Read(int index)
    {
        var (d, line) = Locate(index);
        var dataset = _view.Datasets[d];
        var file = _indexes[d];
        try
        {
            var row = MmprLine.Parse(file.Read(line), dataset.Annotation, file.LineNumber(line), dataset.Root);
            return new PreferenceExample(index, row.Images.Select(p => (ImageSource)new ImageSource.FromFile(p)).ToList(), row.Prompt, row.Chosen, row.Rejected);
        }
        catch (InvalidDataException e)
        {
            throw new BadRowException(index, BadRowReason.MalformedLine, e.Message, e);
        }
    }

    public override int ApproximateLength(int index)
    {
        var (d, line) = Locate(index);
        return _indexes[d].ByteLength(line);
    }

    public override string Fingerprint()
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (int d = 0; d < _indexes.Length; d++)
        {
            var dataset = _view.Datasets[d];
            sha.AppendData(Encoding.UTF8.GetBytes($"{dataset.Name}\n{Path.GetFullPath(dataset.Annotation)}\n{dataset.Root}\n{dataset.RepeatTime}\n{_view.Subsampling}\n"));
            sha.AppendData(BitConverter.GetBytes(_indexes[d].FileLength));
            sha.AppendData(BitConverter.GetBytes(_indexes[d].LastWriteUtc.Ticks));
            sha.AppendData(BitConverter.GetBytes(_positions[d].Length));
            // The sampled lines themselves (a seed change picks others): hashed, not stored.
            foreach (var p in _positions[d])
                sha.AppendData(BitConverter.GetBytes(p));
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    public override void Dispose()
    {
        foreach (var index in _indexes)
            index.Dispose();
    }
}
