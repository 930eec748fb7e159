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
        var prompt = new Option<string>("--prompt") { Description = "text to continue", Required = true };
        var maxPieces = new Option<int>("--max-pieces") { Description = "pieces to generate at most", DefaultValueFactory = _ => 8 };
        var (maxTokens, temperature, topK, topP, seed) = LmCommand.SamplingOptions();
        maxTokens.Description = "tokens per piece at most";
        var ignoreStop = new Option<bool>("--ignore-stop") { Description = "always write --max-pieces pieces" };
        var device = LmCommand.DeviceOption();
        var command = new Command("generate", "Continue a prompt sentence by sentence with a sentence-level LLM (streams pieces).")
            { model, prompt, maxPieces, maxTokens, temperature, topK, topP, seed, ignoreStop, device };
        command.SetAction(async (parse, cancel) =>
        {
            string dir = parse.GetValue(model)!;
            using var sllm = SentenceLlmCheckpoint.Load(dir, LmCommand.ParseDevice(parse.GetValue(device)!));
            var generator = new SentenceLlmGenerator(sllm, TextTokenizers.Load(dir));
            var options = new SentenceGenerationOptions
            {
                MaxPieces = parse.GetValue(maxPieces), IgnoreStop = parse.GetValue(ignoreStop),
                Tokens = new GenerationOptions
                {
                    MaxNewTokens = parse.GetValue(maxTokens), Temperature = parse.GetValue(temperature), TopK = parse.GetValue(topK),
                    TopP = parse.GetValue(topP), Seed = parse.GetValue(seed),
                },
            };
            io.Out.Write(parse.GetValue(prompt));
            io.Out.Flush();
            await foreach (var piece in generator.StreamAsync(parse.GetValue(prompt)!, options, cancel))
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
