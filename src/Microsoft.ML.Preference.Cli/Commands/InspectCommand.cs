using System.CommandLine;
using Microsoft.ML.Preference.Modeling;
using Spectre.Console;

namespace Microsoft.ML.Preference.Cli.Commands;

// Microsoft.ML has a namespace called Command; this alias, inside our namespace, wins over it.
using Command = System.CommandLine.Command;

/// <summary><c>mpo inspect</c>: validates a model folder's shards and summarises it without loading weights.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "InternVL model folder", Required = true };
        var command = new Command("inspect", "Validate every shard's header and bounds, then print the config summary and parameter counts.") { model };
        command.SetAction(parse => CliErrors.Run(() => Print(CheckpointSummary.Read(parse.GetValue(model)!))));
        return command;
    }

    private static void Print(CheckpointSummary s)
    {
        var c = s.Config;
        var table = new Table().AddColumns("", "");
        table.AddRow("vision", Markup.Escape($"InternViT {c.Vision.NumHiddenLayers} layers, width {c.Vision.HiddenSize}, {c.Vision.NumAttentionHeads} heads, {c.Vision.NormType}, tile {c.ForceImageSize}px / patch {c.Vision.PatchSize}"));
        var l = c.Language;
        table.AddRow("language", Markup.Escape($"{l.Architecture} {l.NumHiddenLayers} layers, width {l.HiddenSize}, {l.NumAttentionHeads} heads / {l.NumKeyValueHeads} KV, vocab {l.VocabSize}, rope θ {l.RopeTheta}" +
            (l.RopeScaling is null ? "" : $" ({l.RopeScaling.Type} x{l.RopeScaling.Factor})")));
        table.AddRow("glue", Markup.Escape($"pixel shuffle {c.DownsampleRatio} ({c.PsVersion}), {c.NumImageToken} tokens per tile, template {c.Template}, <IMG_CONTEXT> = {s.ImageContextTokenId}"));
        table.AddRow("shards", Markup.Escape($"{s.Shards.Count} file(s), {s.TotalBytes / 1048576.0:F1} MiB, headers and bounds valid"));
        foreach (var (component, count) in s.ParametersByComponent)
            table.AddRow($"  {Markup.Escape(component)}", $"{count:N0} parameters");
        table.AddRow("total", $"{s.TotalParameters:N0} parameters");
        foreach (var (dtype, count) in s.ParametersByDType)
            table.AddRow($"  stored {dtype}", $"{count:N0}");
        AnsiConsole.Write(table);
    }
}
