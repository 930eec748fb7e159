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
        var sampling = new SamplingFlags();
        var pieceTokens = new Option<int?>("--piece-tokens") { Description = "tokens one piece may hold at most (default: the model's max_seq_len − 1)" };
        var ignoreStop = new Option<bool>("--ignore-stop") { Description = "write until --max-tokens even where the model would stop" };
        var device = LmCommand.DeviceOption();
        var weights = CommonOptions.Weights();
        var command = new Command("generate", "Continue a prompt sentence by sentence with a sentence-level LLM (streams pieces).") { model, pieceTokens, ignoreStop, device, weights };
        sampling.AddTo(command, pieces: true);
        prompt.AddTo(command);
        command.SetAction(async (parse, cancel) =>
        {
            string text = prompt.Read(parse, io);
            string dir = parse.GetValue(model)!;
            using var sllm = SentenceLlmCheckpoint.Load(dir, LmCommand.ParseDevice(parse.GetValue(device)!));
            var generator = new SentenceLlmGenerator(sllm, TextTokenizers.Load(dir)) { Weights = CommonOptions.ParseWeights(parse.GetValue(weights)!) };
            // Positions: the start vector and the prompt's pieces (generation past the trained context keeps its most recent half).
            var pieces = generator.PromptPieces(text);
            int keep = prompt.Fit(parse, pieces.Count, sllm.Config.MaxPositions - 1, "piece", "max_position_embeddings (less the start vector)");
            var kept = pieces.Skip(pieces.Count - keep).ToList();
            string shown = string.Concat(kept.Select(p => generator.Tokenizer.Decode(p)));
            int longest = sllm.Config.Svae.MaxSeqLen - 1;
            int perPiece = parse.GetValue(pieceTokens) ?? longest;
            if (perPiece < 1 || perPiece > longest) throw new CliUsageException($"--piece-tokens {perPiece}: must be in [1, {longest}] (the model's max_seq_len − 1)");
            var options = new SentenceGenerationOptions
            {
                MaxPieces = int.MaxValue, MaxTokens = parse.GetValue(sampling.MaxTokens), IgnoreStop = parse.GetValue(ignoreStop), Tokens = sampling.Read(parse, perPiece, GenerationConfig.Load(dir)),
            };
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
