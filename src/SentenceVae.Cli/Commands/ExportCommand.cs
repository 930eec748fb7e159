using System.CommandLine;
using SentenceVae.Checkpoints;
using SentenceVae.Text;
using static TorchSharp.torch;

namespace SentenceVae.Cli.Commands;

/// <summary><c>svae export</c>: copy a model directory (e.g. a run's best/) into a shippable one: smaller dtype, shared SentenceVAE.</summary>
internal static class ExportCommand
{
    public static Command Create(CliIO io)
    {
        var model = new Option<string>("--model") { Description = "model directory to export (an OPT, SentenceVAE or sentence-level LLM directory)", Required = true };
        var output = new Option<string>("--out") { Description = "directory to write", Required = true };
        var dtype = CommonOptions.Dtype("float16");
        var svaeDir = new Option<string?>("--svae-dir") { Description = "sentence-level LLM only: store no SentenceVAE weights, point at this SentenceVAE directory instead (must hold the same weights)" };
        var command = new Command("export", "Write a model directory for shipping (dtype conversion, shared SentenceVAE).") { model, output, dtype, svaeDir };
        command.SetAction(parse =>
        {
            string source = parse.GetValue(model)!, target = parse.GetValue(output)!;
            var type = CommonOptions.ParseDtype(parse.GetValue(dtype)!);
            var kind = ModelDirectory.Kind(source);
            var tok = TextTokenizers.Load(source);
            switch (kind)
            {
                case ModelKind.TokenModel:
                    using (var lm = HuggingFaceCheckpoint.LoadOpt(source)) { HuggingFaceCheckpoint.SaveOpt(lm, target, type); tok.Save(target); }
                    break;
                case ModelKind.SentenceVae:
                    using (var vae = SentenceVaeCheckpoint.Load(source)) SentenceVaeCheckpoint.Save(vae, target, tok, type);
                    break;
                default:
                    using (var sllm = SentenceLlmCheckpoint.Load(source))
                    {
                        if (parse.GetValue(svaeDir) is { } shared) SentenceLlmCheckpoint.SaveSharingSvae(sllm, target, shared, tok, type);
                        else SentenceLlmCheckpoint.Save(sllm, target, tok, type);
                    }
                    break;
            }
            long bytes = Directory.GetFiles(target).Sum(f => new FileInfo(f).Length);
            io.Out.WriteLine($"wrote {target} ({kind.ModelType()}, {parse.GetValue(dtype)}, {bytes / 1e6:0.0} MB)");
            return 0;
        });
        return command;
    }
}
