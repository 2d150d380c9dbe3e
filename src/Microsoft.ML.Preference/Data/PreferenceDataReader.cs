using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace Microsoft.ML.Preference.Data;

/// <summary>Reads the rows of a preference IDataView (after <see cref="PreferenceColumns.Validate"/>).</summary>
internal static class PreferenceDataReader
{
    /// <summary>
    /// Every row, in order. Relative image paths are resolved against <paramref name="imageRoot"/> (the current
    /// folder when null). Rows are read with one cursor, so a lazily loaded IDataView is read once.
    /// </summary>
    public static IEnumerable<PreferenceExample> Read(IDataView data, PreferenceColumns columns, string? imageRoot = null)
    {
        columns.Validate(data.Schema);
        var needed = new List<DataViewSchema.Column>
        {
            data.Schema[columns.Prompt], data.Schema[columns.Chosen], data.Schema[columns.Rejected],
        };
        DataViewSchema.Column? imageColumn = columns.Image is null ? null : data.Schema[columns.Image];
        if (imageColumn is not null)
            needed.Add(imageColumn.Value);
        // MMPR data sets may set their own max_dynamic_patch (MmprDataView's column; 0 where a data set does not).
        var patchColumn = data.Schema.GetColumnOrNull(PreferenceColumnNames.MaxDynamicPatch) is { Type: NumberDataViewType } pc && pc.Type.RawType == typeof(int) ? pc : (DataViewSchema.Column?)null;
        if (patchColumn is not null)
            needed.Add(patchColumn.Value);

        using var cursor = data.GetRowCursor(needed);
        var patches = patchColumn is { } column ? cursor.GetGetter<int>(column) : null;
        int patch = 0;
        var prompt = cursor.GetGetter<ReadOnlyMemory<char>>(data.Schema[columns.Prompt]);
        var chosen = cursor.GetGetter<ReadOnlyMemory<char>>(data.Schema[columns.Chosen]);
        var rejected = cursor.GetGetter<ReadOnlyMemory<char>>(data.Schema[columns.Rejected]);
        var images = ImageGetter(cursor, imageColumn, imageRoot);
        ReadOnlyMemory<char> p = default, c = default, r = default;
        long row = 0;
        while (cursor.MoveNext())
        {
            prompt(ref p);
            chosen(ref c);
            rejected(ref r);
            patches?.Invoke(ref patch);
            yield return new PreferenceExample(row, images(), p.ToString(), c.ToString(), r.ToString(), patch > 0 ? patch : null);
            row++;
        }
    }

    /// <summary>
    /// Questions for the pair pipelines: images (optional column), the question and, when named, the ground-truth
    /// answer and an existing response. Missing or wrongly typed columns are named in the error.
    /// </summary>
    public static IEnumerable<Pairs.PairSource> ReadQuestions(IDataView data, string? imageColumn, string questionColumn,
        string? answerColumn = null, string? responseColumn = null, string? imageRoot = null)
    {
        var schema = data.Schema;
        DataViewSchema.Column Text(string name, string role)
        {
            var column = schema.GetColumnOrNull(name) ?? throw new ArgumentOutOfRangeException(nameof(data), $"The {role} column '{name}' is missing.");
            if (column.Type is not TextDataViewType)
                throw new ArgumentOutOfRangeException(nameof(data), $"The {role} column '{name}' is {column.Type}, not text.");
            return column;
        }
        var question = Text(questionColumn, "question");
        DataViewSchema.Column? answer = answerColumn is null ? null : Text(answerColumn, "answer");
        DataViewSchema.Column? response = responseColumn is null ? null : schema.GetColumnOrNull(responseColumn) is null ? null : Text(responseColumn, "response");
        DataViewSchema.Column? image = imageColumn is null ? null
            : schema.GetColumnOrNull(imageColumn) ?? throw new ArgumentOutOfRangeException(nameof(data), $"The image column '{imageColumn}' is missing.");
        var needed = new[] { question, answer, response, image }.Where(c => c is not null).Select(c => c!.Value).ToList();
        using var cursor = data.GetRowCursor(needed);
        var getQuestion = cursor.GetGetter<ReadOnlyMemory<char>>(question);
        var getAnswer = answer is null ? null : cursor.GetGetter<ReadOnlyMemory<char>>(answer.Value);
        var getResponse = response is null ? null : cursor.GetGetter<ReadOnlyMemory<char>>(response.Value);
        var images = ImageGetter(cursor, image, imageRoot);
        ReadOnlyMemory<char> q = default, a = default, r = default;
        long row = 0;
        while (cursor.MoveNext())
        {
            getQuestion(ref q);
            getAnswer?.Invoke(ref a);
            getResponse?.Invoke(ref r);
            yield return new Pairs.PairSource(row, images(), q.ToString(), getAnswer is null ? null : a.ToString(),
                getResponse is null || r.Length == 0 ? null : r.ToString());
            row++;
        }
    }

    private static Func<IReadOnlyList<ImageSource>> ImageGetter(DataViewRowCursor cursor, DataViewSchema.Column? column, string? root)
    {
        if (column is null)
            return () => [];
        string Resolve(string path) => root is null || Path.IsPathRooted(path) ? path : Path.Combine(root, path);
        switch (column.Value.Type)
        {
            case ImageDataViewType:
            {
                var get = cursor.GetGetter<MLImage>(column.Value);
                return () =>
                {
                    MLImage image = null!;
                    get(ref image);
                    return image is null ? [] : [new ImageSource.InMemory(image)];
                };
            }
            case TextDataViewType:
            {
                var get = cursor.GetGetter<ReadOnlyMemory<char>>(column.Value);
                return () =>
                {
                    ReadOnlyMemory<char> path = default;
                    get(ref path);
                    var text = path.ToString().Trim();
                    return text.Length == 0 ? [] : [new ImageSource.FromFile(Resolve(text))];
                };
            }
            default:
            {
                var get = cursor.GetGetter<VBuffer<ReadOnlyMemory<char>>>(column.Value);
                return () =>
                {
                    VBuffer<ReadOnlyMemory<char>> paths = default;
                    get(ref paths);
                    return paths.DenseValues().Select(x => x.ToString().Trim()).Where(x => x.Length > 0)
                        .Select(x => (ImageSource)new ImageSource.FromFile(Resolve(x))).ToList();
                };
            }
        }
    }
}
