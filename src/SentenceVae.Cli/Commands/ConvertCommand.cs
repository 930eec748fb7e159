using System.CommandLine;
using SentenceVae.Checkpoints;
using SentenceVae.Modules;
using SentenceVae.Text;

namespace SentenceVae.Cli.Commands;

/// <summary><c>svae convert</c>: the paper's recipe — a sentence-level model made from a trained token model, before any training step.</summary>
internal static class ConvertCommand
{
    public static Command Create(CliIO io)
    {
        var from = new Option<string>("--from") { Description = "a trained token model directory (ours, e.g. models/lm-256, or a Hugging Face OPT directory)", Required = true };
        var output = new Option<string>("--out") { Description = "directory to write the sentence-level model to", Required = true };
        var mapping = new Option<string>("--mapping") { Description = "which of the token model's weights it starts from: all_layers (its layers also start the Sentence Encoder and Decoder) or backbone (layers, positions, embeddings and head only)", DefaultValueFactory = _ => "all_layers" };
        mapping.AcceptOnlyFromAmong("all_layers", "backbone");
        var config = new Option<string?>("--config") { Description = "a sentence-level model config.json to convert into (default: the token model's layers, a one-layer SentenceVAE of its width, 4 memory vectors, the previous piece)" };
        var dtype = CommonOptions.Dtype("float32");
        var command = new Command("convert", "Make a sentence-level model from a trained token model (train it on with 'svae train sllm' and init_from in the config).") { from, output, mapping, config, dtype };
        command.SetAction(parse =>
        {
            string source = parse.GetValue(from)!, target = parse.GetValue(output)!;
            var parent = OptConfig.Load(Path.Combine(source, HuggingFaceCheckpoint.ConfigFile));
            var sllmConfig = parse.GetValue(config) is { } path ? SentenceLlmConfig.Load(path) : TokenModelConversion.DefaultConfig(parent);
            var kind = parse.GetValue(mapping) == "backbone" ? ConversionMapping.Backbone : ConversionMapping.AllLayers;
            var tokenizer = TextTokenizers.Load(source);
            using var model = TokenModelConversion.Convert(source, sllmConfig, kind);
            var type = CommonOptions.ParseDtype(parse.GetValue(dtype)!);
            SentenceLlmCheckpoint.Save(model, target, tokenizer, type);
            io.Out.WriteLine($"wrote {target}: a sentence-level model from {source} ({parse.GetValue(mapping)}; untrained: train it with 'svae train sllm' and \"init_from\": \"{source}\")");
            return 0;
        });
        return command;
    }
}
