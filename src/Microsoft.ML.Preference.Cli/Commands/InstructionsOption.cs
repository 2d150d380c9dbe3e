using System.CommandLine;
using Microsoft.ML.Preference.Generation;

namespace Microsoft.ML.Preference.Cli.Commands;

/// <summary>The <c>--instructions</c> option of the commands that put questions into a prompt: a named <see cref="InstructionTemplate"/>.</summary>
internal static class InstructionsOption
{
    public static Option<string?> Create(string description)
    {
        var option = new Option<string?>("--instructions") { Description = $"{string.Join(" or ", InstructionTemplate.Known.Select(t => t.Name))}: {description}" };
        option.AcceptOnlyFromAmong([.. InstructionTemplate.Known.Select(t => t.Name)]);
        return option;
    }

    /// <summary>The template named on the command line, or null when the option was not given.</summary>
    public static InstructionTemplate? Read(ParseResult parse, Option<string?> option) =>
        parse.GetValue(option) is { } name ? InstructionTemplate.FromName(name) : null;
}
