using SentenceVae.Modules;
using SentenceVae.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace SentenceVae.Checkpoints;

/// <summary>
/// Sentence-level LLM model directories (config.json + model.safetensors + tokenizer), and weights in the
/// reference SLLM's layout (<c>svae.*</c>, <c>llm_pe.*</c>, <c>llm_layers.N.*</c>, <c>fc.*</c>; bare or
/// mmengine-wrapped <c>.pth</c>), read safely.
/// </summary>
public static class SentenceLlmCheckpoint
{
    public static SentenceLlm Load(string directory, Device? device = null) =>
        Load(Path.Combine(directory, SentenceVaeCheckpoint.ConfigFile), SentenceVaeCheckpoint.FindWeights(directory), device);

    public static SentenceLlm Load(string configPath, string weightsPath, Device? device = null)
    {
        var model = new SentenceLlm(SentenceLlmConfig.Load(configPath));
        var state = SentenceVaeCheckpoint.ReadStateDict(weightsPath);
        try { StateDicts.LoadStrict(model, state, weightsPath); }
        finally { foreach (var t in state.Values) t.Dispose(); }
        if (device is not null) model.to(device);
        model.eval();
        return model;
    }

    public static void Save(SentenceLlm model, string directory, ITextTokenizer? tokenizer = null, ScalarType dtype = ScalarType.Float32)
    {
        Directory.CreateDirectory(directory);
        model.Config.Save(Path.Combine(directory, SentenceVaeCheckpoint.ConfigFile));
        SentenceVaeCheckpoint.SaveWeights(model, directory, dtype);
        tokenizer?.Save(directory);
    }
}
