using System.CommandLine;
using SentenceVae.Checkpoints;
using SentenceVae.Inference;
using SentenceVae.Text;

namespace SentenceVae.Cli.Commands;

/// <summary><c>svae generate --model DIR --prompt TEXT</c>: a sentence-level LLM continues the prompt, printing each piece as it is produced.</summary>
internal static class GenerateCommand
{
    public static Command Create(CliIO io)
    {
        var model = new Option<string>("--model") { Description = "sentence-level LLM directory (config.json, model.safetensors, tokenizer)", Required = true };
        var prompt = new PromptOptions();
        var maxPieces = new Option<int>("--max-pieces") { Description = "pieces to generate at most; start vector + prompt pieces + these must fit the backbone's max_position_embeddings (1024 for the shipped models)", DefaultValueFactory = _ => 8 };
        var (maxTokens, temperature, topK, topP, seed) = LmCommand.SamplingOptions();
        maxTokens.Description = "tokens per piece at most";
        var ignoreStop = new Option<bool>("--ignore-stop") { Description = "always write --max-pieces pieces" };
        var device = LmCommand.DeviceOption();
        var command = new Command("generate", "Continue a prompt sentence by sentence with a sentence-level LLM (streams pieces).")
            { model, maxPieces, maxTokens, temperature, topK, topP, seed, ignoreStop, device };
        prompt.AddTo(command);
        command.SetAction(async (parse, cancel) =>
        {
            string text = prompt.Read(parse, io);
            string dir = parse.GetValue(model)!;
            using var sllm = SentenceLlmCheckpoint.Load(dir, LmCommand.ParseDevice(parse.GetValue(device)!));
            var generator = new SentenceLlmGenerator(sllm, TextTokenizers.Load(dir));
            // Positions: the start vector, the prompt's pieces, then one per generated piece.
            var pieces = generator.PromptPieces(text);
            int keep = prompt.Fit(parse, pieces.Count, parse.GetValue(maxPieces), sllm.Config.MaxPositions - 1, "piece", "--max-pieces", "max_position_embeddings (less the start vector)");
            var kept = pieces.Skip(pieces.Count - keep).ToList();
            string shown = string.Concat(kept.Select(p => generator.Tokenizer.Decode(p)));
            var options = new SentenceGenerationOptions
            {
                MaxPieces = parse.GetValue(maxPieces), IgnoreStop = parse.GetValue(ignoreStop),
                Tokens = new GenerationOptions
                {
                    MaxNewTokens = parse.GetValue(maxTokens), Temperature = parse.GetValue(temperature), TopK = parse.GetValue(topK),
                    TopP = parse.GetValue(topP), Seed = parse.GetValue(seed),
                },
            };
            options.Tokens.Validate();
            io.Out.Write(shown);
            io.Out.Flush();
            await foreach (var piece in generator.StreamAsync(kept, options, cancel))
            {
                io.Out.Write(piece.Text);
                io.Out.Flush();
            }
            io.Out.WriteLine();
            return 0;
        });
        return command;
    }
}
