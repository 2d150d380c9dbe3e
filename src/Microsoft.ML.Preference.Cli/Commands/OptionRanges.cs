using System.CommandLine;
using System.Globalization;

namespace Microsoft.ML.Preference.Cli.Commands;

/// <summary>
/// Range checks for numeric options: a value outside the rule is a parse error naming the option and the value,
/// before any model is loaded (a negative count or ratio must never reach the library, where it may mean
/// something else or nothing).
/// </summary>
internal static class OptionRanges
{
    public static Option<int> AtLeast(int min, Option<int> option, string? why = null) =>
        Checked(option, v => v >= min, $"at least {min}" + (why is null ? "" : $" ({why})"));

    public static Option<double> AtLeast(double min, Option<double> option, string? why = null) =>
        Checked(option, v => v >= min, string.Create(CultureInfo.InvariantCulture, $"at least {min}") + (why is null ? "" : $" ({why})"));

    public static Option<double> AboveZero(Option<double> option, string? why = null) =>
        Checked(option, v => v > 0, "above 0" + (why is null ? "" : $" ({why})"));

    /// <summary>A value in (low, high]: above <paramref name="low"/>, at most <paramref name="high"/>.</summary>
    public static Option<double> AboveAtMost(double low, double high, Option<double> option) =>
        Checked(option, v => v > low && v <= high, string.Create(CultureInfo.InvariantCulture, $"above {low} and at most {high}"));

    /// <summary>A value strictly between <paramref name="low"/> and <paramref name="high"/>.</summary>
    public static Option<double> Between(double low, double high, Option<double> option) =>
        Checked(option, v => v > low && v < high, string.Create(CultureInfo.InvariantCulture, $"above {low} and below {high}"));

    /// <summary>An optional number: unset, or at least <paramref name="min"/>.</summary>
    public static Option<int?> AtLeastWhenGiven(int min, Option<int?> option, string? why = null) =>
        Checked(option, v => v is null || v >= min, $"at least {min}" + (why is null ? "" : $" ({why})"));

    /// <summary>An optional number: unset, or above 0.</summary>
    public static Option<double?> AboveZeroWhenGiven(Option<double?> option, string? why = null) =>
        Checked(option, v => v is null || v > 0, "above 0" + (why is null ? "" : $" ({why})"));

    /// <summary>A value in [<paramref name="min"/>, <paramref name="max"/>), or up to <paramref name="max"/> inclusive when <paramref name="maxIncluded"/>.</summary>
    public static Option<double?> InRange(double min, double max, Option<double?> option, bool maxIncluded = false) =>
        Checked(option, v => v is null || (v >= min && (maxIncluded ? v <= max : v < max)),
            string.Create(CultureInfo.InvariantCulture, $"at least {min} and {(maxIncluded ? "at most" : "below")} {max}"));

    /// <summary>An optional name: unset, or one of <paramref name="names"/> (case-insensitive); the error lists them.</summary>
    public static Option<string?> OneOf(Option<string?> option, params IReadOnlyList<string> names) =>
        Checked(option, v => v is null || names.Contains(v, StringComparer.OrdinalIgnoreCase), $"one of {string.Join(", ", names)}");

    /// <summary>Adds a check to <paramref name="option"/>: a value outside <paramref name="rule"/> is a parse error that names the option.</summary>
    public static Option<T> Checked<T>(Option<T> option, Func<T, bool> valid, string rule)
    {
        option.Validators.Add(result =>
        {
            var value = result.GetValueOrDefault<T>();
            if (!valid(value))
                result.AddError(string.Create(CultureInfo.InvariantCulture, $"{option.Name} must be {rule}, not {value}."));
        });
        return option;
    }
}
