using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.Data;

namespace Microsoft.ML.Preference.Data.Mmpr;

/// <summary>Writes an IDataView in MMPR's layout: a meta.json entry and one jsonl file.</summary>
internal static class MmprWriter
{
    public static string Save(IDataView data, string folder, string name, string? imageRoot, int? maxDynamicPatch)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || name is "." or ".." || name.Contains('/') || name.Contains('\\'))
            throw new ArgumentException($"The data set name '{name}' must be usable as a file name.", nameof(name));
        var schema = data.Schema;
        DataViewSchema.Column Text(string column)
        {
            var c = schema.GetColumnOrNull(column)
                ?? throw new ArgumentOutOfRangeException(nameof(data), $"The column '{column}' is missing. Columns present: {string.Join(", ", schema.Select(x => $"{x.Name} ({x.Type})"))}.");
            return c.Type is TextDataViewType ? c : throw new ArgumentOutOfRangeException(nameof(data), $"The column '{column}' is {c.Type}, not text.");
        }
        var prompt = Text(PreferenceColumnNames.Prompt);
        var chosen = Text(PreferenceColumnNames.Chosen);
        var rejected = Text(PreferenceColumnNames.Rejected);
        var answer = schema.GetColumnOrNull(PreferenceColumnNames.AnswerGt) is { } a ? Text(a.Name) : (DataViewSchema.Column?)null;
        var image = schema.GetColumnOrNull(PreferenceColumnNames.Image);
        if (image is { } im && im.Type is not TextDataViewType && im.Type is not VectorDataViewType { ItemType: TextDataViewType })
            throw new ArgumentOutOfRangeException(nameof(data), $"The image column '{im.Name}' is {im.Type}; SaveMmpr writes paths (text or a vector of text).");

        folder = Path.GetFullPath(folder);
        // One writer per MMPR folder: a second is refused naming the holder (its meta.json and jsonl would interleave).
        using var folderLock = Runtime.OutputLock.ForFolder(folder);
        // The root: the one given, or the deepest folder holding every image (a first pass over the data).
        string root = imageRoot is not null ? Path.TrimEndingDirectorySeparator(Path.GetFullPath(imageRoot)) : CommonFolder(ReadImages(data, image)) ?? folder;

        var jsonlName = name + ".jsonl";
        var jsonlPath = Path.Combine(folder, jsonlName);
        var temporary = jsonlPath + ".tmp";
        var options = new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
        {
            var needed = new List<DataViewSchema.Column> { prompt, chosen, rejected };
            if (answer is { } ac) needed.Add(ac);
            if (image is { } ic) needed.Add(ic);
            using var cursor = data.GetRowCursor(needed);
            var getPrompt = cursor.GetGetter<ReadOnlyMemory<char>>(prompt);
            var getChosen = cursor.GetGetter<ReadOnlyMemory<char>>(chosen);
            var getRejected = cursor.GetGetter<ReadOnlyMemory<char>>(rejected);
            var getAnswer = answer is { } gac ? cursor.GetGetter<ReadOnlyMemory<char>>(gac) : null;
            var getImages = ImageGetter(cursor, image);
            ReadOnlyMemory<char> p = default, c = default, r = default, g = default;
            var newline = "\n"u8.ToArray();
            using var writer = new Utf8JsonWriter(stream, options);
            while (cursor.MoveNext())
            {
                var images = getImages();
                writer.Reset();
                writer.WriteStartObject();
                if (images.Length == 1)
                    writer.WriteString("image", Relative(images[0], root, cursor.Position));
                else if (images.Length > 1)
                {
                    writer.WriteStartArray("image");
                    foreach (var path in images)
                        writer.WriteStringValue(Relative(path, root, cursor.Position));
                    writer.WriteEndArray();
                }
                getPrompt(ref p);
                getChosen(ref c);
                getRejected(ref r);
                writer.WriteString("question", p.Span);
                writer.WriteString("chosen", c.Span);
                writer.WriteString("rejected", r.Span);
                if (getAnswer is not null)
                {
                    getAnswer(ref g);
                    if (!g.IsEmpty)
                        writer.WriteString("answer_gt", g.Span);
                }
                writer.WriteEndObject();
                writer.Flush();
                stream.Write(newline);
            }
        }
        File.Move(temporary, jsonlPath, overwrite: true);

        // meta.json: other entries of an existing file are kept; this name's entry is replaced.
        var metaPath = Path.Combine(folder, "meta.json");
        JsonObject meta = [];
        if (File.Exists(metaPath))
        {
            try
            {
                meta = JsonNode.Parse(File.ReadAllText(metaPath)) as JsonObject ?? throw new InvalidDataException($"{metaPath}: not a JSON object");
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{metaPath}: exists and is not valid JSON ({e.Message}); not overwritten", e);
            }
        }
        var rootText = root == folder ? "" : MmprLine.IsUnder(root, folder) ? Path.GetRelativePath(folder, root) : root;
        var entry = new JsonObject { ["root"] = rootText, ["annotation"] = jsonlName, ["repeat_time"] = 1 };
        if (maxDynamicPatch is int m)
            entry["max_dynamic_patch"] = m;
        meta[name] = entry;
        var metaTemporary = metaPath + ".tmp";
        File.WriteAllText(metaTemporary, meta.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }), new UTF8Encoding(false));
        File.Move(metaTemporary, metaPath, overwrite: true);
        return metaPath;
    }

    private static string Relative(string path, string root, long row)
    {
        var full = Path.GetFullPath(path);
        if (!MmprLine.IsUnder(full, root))
            throw new InvalidDataException($"Data row {row + 1}: image '{path}' is not under the image root '{root}'; LoadMmpr would refuse it. Pass an imageRoot that holds every image.");
        return Path.GetRelativePath(root, full).Replace(Path.DirectorySeparatorChar, '/');
    }

    private static Func<string[]> ImageGetter(DataViewRowCursor cursor, DataViewSchema.Column? image)
    {
        if (image is not { } column)
            return () => [];
        if (column.Type is TextDataViewType)
        {
            var get = cursor.GetGetter<ReadOnlyMemory<char>>(column);
            ReadOnlyMemory<char> value = default;
            return () =>
            {
                get(ref value);
                return value.IsEmpty ? [] : [value.ToString()];
            };
        }
        var getVector = cursor.GetGetter<VBuffer<ReadOnlyMemory<char>>>(column);
        VBuffer<ReadOnlyMemory<char>> vector = default;
        return () =>
        {
            getVector(ref vector);
            var result = new List<string>(vector.Length);
            foreach (var v in vector.DenseValues())
                if (!v.IsEmpty)
                    result.Add(v.ToString());
            return result.ToArray();
        };
    }

    private static IEnumerable<string> ReadImages(IDataView data, DataViewSchema.Column? image)
    {
        if (image is null)
            yield break;
        using var cursor = data.GetRowCursor([image.Value]);
        var get = ImageGetter(cursor, image);
        while (cursor.MoveNext())
            foreach (var path in get())
                yield return path;
    }

    /// <summary>The deepest folder that holds every path, or null when there are none.</summary>
    private static string? CommonFolder(IEnumerable<string> paths)
    {
        string? common = null;
        foreach (var path in paths)
        {
            var folder = Path.GetDirectoryName(Path.GetFullPath(path)) ?? Path.GetPathRoot(Path.GetFullPath(path))!;
            if (common is null)
            {
                common = folder;
                continue;
            }
            while (common != folder && !MmprLine.IsUnder(folder, common))
                common = Path.GetDirectoryName(common) ?? common[..0];
        }
        return common is null ? null : Path.TrimEndingDirectorySeparator(common.Length == 0 ? Path.GetPathRoot(Environment.CurrentDirectory)! : common);
    }
}
