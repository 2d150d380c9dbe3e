using System.CommandLine;
using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Generation;
using Microsoft.ML.Preference.Modeling;
using Microsoft.ML.Preference.Runtime;
using Microsoft.ML.Preference.Transformers;
using static Microsoft.ML.Preference.Cli.Commands.OptionRanges;

namespace Microsoft.ML.Preference.Cli.Commands;

// Microsoft.ML has a namespace called Command; this alias, inside our namespace, wins over it.
using Command = System.CommandLine.Command;

/// <summary><c>mpo generate</c>: asks a model about an image and streams the answer to the console.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "InternVL model folder (or a folder written by MpoTransformer.Save)", Required = true };
        var image = new Option<string?>("--image") { Description = "image file (omit for a text-only question)" };
        var prompt = new Option<string>("--prompt") { Description = "the question", Required = true };
        var cot = new Option<bool>("--cot") { Description = "ask for step-by-step reasoning ending in \"Final answer:\"" };
        var maxTokens = AtLeast(1, new Option<int>("--max-new-tokens") { DefaultValueFactory = _ => 512 });
        var temperature = AtLeast(0.0, new Option<double>("--temperature") { Description = "0 = greedy", DefaultValueFactory = _ => 0 });
        var topP = AboveAtMost(0, 1, new Option<double>("--top-p") { DefaultValueFactory = _ => 1.0 });
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => 0 };
        var device = new Option<string>("--device") { DefaultValueFactory = _ => "auto" };
        var instructions = InstructionsOption.Create("the template the question is put into (default: the one a folder written by MpoTransformer.Save " +
            "was trained with, else mmpr); a question that already carries one is not wrapped again");
        var command = new Command("generate", "Answer a question about an image, streaming the tokens as they come.")
        {
            model, image, prompt, cot, instructions, maxTokens, temperature, topP, seed, device,
        };
        command.SetAction(parse => CliErrors.Run(() =>
        {
            using var vlm = VisionLanguageModel.Load(parse.GetValue(model)!, device: TorchDevices.Resolve(parse.GetValue(device)!, "--device"));
            var mode = parse.GetValue(cot) ? AnswerMode.ChainOfThought : AnswerMode.Direct;
            IReadOnlyList<ImageSource> images = parse.GetValue(image) is { } path ? [new ImageSource.FromFile(path)] : [];
            var options = new GenerationOptions
            {
                MaxNewTokens = parse.GetValue(maxTokens), Temperature = parse.GetValue(temperature), TopP = parse.GetValue(topP), Seed = parse.GetValue(seed),
            };
            using var cancel = new CancellationTokenSource();
            Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };
            var template = InstructionsOption.Read(parse, instructions) ?? MpoTransformer.SavedInstructions(parse.GetValue(model)!);
            var result = vlm.Answer([(images, parse.GetValue(prompt)!)], mode, options, 1, t => Console.Write(t.TextDelta), cancel.Token, template)[0];
            Console.WriteLine();
            if (mode == AnswerMode.ChainOfThought)
            {
                var answer = AnswerExtractor.Extract(result.Text);
                Console.WriteLine(answer.Succeeded ? $"[answer: {answer.Answer}]" : $"[no answer: {answer.FormatFailure}]");
            }
        }));
        return command;
    }
}
