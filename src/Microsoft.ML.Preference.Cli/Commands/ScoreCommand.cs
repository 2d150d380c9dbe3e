using System.CommandLine;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Modeling.Checkpoints;
using Spectre.Console;

namespace Microsoft.ML.Preference.Cli.Commands;

// Microsoft.ML has a namespace called Command; this alias, inside our namespace, wins over it.
using Command = System.CommandLine.Command;

/// <summary><c>mpo score</c>: logits and log-probs of a cases file, to compare a checkpoint with a Python run.</summary>
internal static class ScoreCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "InternVL model folder (config.json + safetensors)", Required = true };
        var cases = new Option<string>("--cases") { Description = "safetensors with input_ids [B,T] and optionally pixel_values, image_flags, attention_mask, labels", Required = true };
        var output = new Option<string>("--out") { Description = "where to write logits, token_logps and response_logps (safetensors)", Required = true };
        var command = new Command("score", "Run a model in float32 on CPU over a cases file and write logits [B,T,V], token_logps [B,T-1] and response_logps [B].")
        {
            model, cases, output,
        };
        command.SetAction(parse => CliErrors.Run(() =>
        {
            using var m = InternVLModelFolder.Load(parse.GetValue(model)!);
            using var c = SafetensorsFile.Open(parse.GetValue(cases)!);
            var scored = CaseScorer.Score(m, c);
            SafetensorsWriter.Write(parse.GetValue(output)!,
            [
                ("logits", scored.Logits), ("token_logps", scored.TokenLogProbs), ("response_logps", scored.ResponseLogProbs),
            ]);
            AnsiConsole.WriteLine($"wrote {parse.GetValue(output)}: logits [{string.Join(", ", scored.Logits.shape)}], " +
                $"response_logps [{string.Join(", ", scored.ResponseLogProbs.data<float>().ToArray().Select(v => v.ToString("F4")))}]");
        }));
        return command;
    }
}
