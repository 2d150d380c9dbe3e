using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace Microsoft.ML.Preference.Data;

/// <summary>
/// The input columns of a preference data set and the check that an IDataView has them with usable types:
/// an image column (MLImage, a path string, or a vector of path strings for multi-image rows — or none for
/// text-only data) and text columns for the prompt, the chosen and the rejected response.
/// </summary>
public sealed record PreferenceColumns(string? Image = PreferenceColumnNames.Image, string Prompt = PreferenceColumnNames.Prompt,
    string Chosen = PreferenceColumnNames.Chosen, string Rejected = PreferenceColumnNames.Rejected)
{
    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming every missing or wrongly typed column.</summary>
    public void Validate(DataViewSchema schema, string what = "training data")
    {
        var problems = new List<string>();
        void RequireText(string name, string role)
        {
            var column = schema.GetColumnOrNull(name);
            if (column is null)
                problems.Add($"the {role} column '{name}' is missing");
            else if (column.Value.Type is not TextDataViewType)
                problems.Add($"the {role} column '{name}' is {column.Value.Type}, not text");
        }
        RequireText(Prompt, "prompt");
        RequireText(Chosen, "chosen");
        RequireText(Rejected, "rejected");
        if (Image is not null)
        {
            var column = schema.GetColumnOrNull(Image);
            if (column is null)
                problems.Add($"the image column '{Image}' is missing (set it to null for text-only data)");
            else if (!IsImageType(column.Value.Type))
                problems.Add($"the image column '{Image}' is {column.Value.Type}; use an MLImage, a path (text) or a vector of paths");
        }
        if (problems.Count > 0)
            throw new ArgumentOutOfRangeException(nameof(schema),
                $"The {what} does not fit: {string.Join("; ", problems)}. Columns present: {string.Join(", ", schema.Select(c => $"{c.Name} ({c.Type})"))}.");
    }

    private static bool IsImageType(DataViewType type) =>
        type is ImageDataViewType or TextDataViewType || type is VectorDataViewType { ItemType: TextDataViewType };
}
