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
    /// <summary>Loads a sentence-level LLM model directory (config.json + model.safetensors + tokenizer), in evaluation mode.</summary>
    public static SentenceLlm Load(string directory, Device? device = null) =>
        ModelDirectory.ExpectThen(directory, ModelKind.SentenceLlm, () => Load(Path.Combine(directory, SentenceVaeCheckpoint.ConfigFile), SentenceVaeCheckpoint.FindWeights(directory), device));

    /// <summary>Loads a config file and a weights file (.safetensors or a reference .pth), in evaluation mode.</summary>
    public static SentenceLlm Load(string configPath, string weightsPath, Device? device = null)
    {
        var config = SentenceLlmConfig.Load(configPath);
        var model = new SentenceLlm(config);
        var state = SentenceVaeCheckpoint.ReadStateDict(weightsPath);
        if (config.SvaePath is not null)
        {
            // The SentenceVAE is shipped in its own directory: its weights join these under "svae.".
            string svaeDir = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(configPath))!, config.SvaePath));
            var svaeConfig = SentenceVaeConfig.Load(Path.Combine(svaeDir, SentenceVaeCheckpoint.ConfigFile));
            if (svaeConfig with { Dropout = 0 } != config.Svae with { Dropout = 0 })
                throw new CheckpointException($"{configPath}: svae_path {svaeDir} holds a SentenceVAE of another shape");
            foreach (var (key, tensor) in SentenceVaeCheckpoint.ReadStateDict(SentenceVaeCheckpoint.FindWeights(svaeDir))) state["svae." + key] = tensor;
        }
        try { StateDicts.LoadStrict(model, state, weightsPath, StateDicts.TiedKeys(model)); }
        finally { foreach (var t in state.Values) t.Dispose(); }
        if (device is not null) model.to(device);
        model.eval();
        return model;
    }

    /// <summary>Writes a model directory: config.json, model.safetensors in <paramref name="dtype"/> (tied weights once) and the tokenizer's files.</summary>
    public static void Save(SentenceLlm model, string directory, ITextTokenizer? tokenizer = null, ScalarType dtype = ScalarType.Float32)
    {
        Directory.CreateDirectory(directory);
        (model.Config with { SvaePath = null }).Save(Path.Combine(directory, SentenceVaeCheckpoint.ConfigFile));
        SentenceVaeCheckpoint.SaveWeights(model, directory, dtype);
        tokenizer?.Save(directory);
    }

    /// <summary>
    /// Saves the model without its SentenceVAE weights, pointing instead at <paramref name="svaeDirectory"/>,
    /// after checking that the SentenceVAE stored there (as it loads) is exactly this model's (e.g. frozen in training).
    /// </summary>
    public static void SaveSharingSvae(SentenceLlm model, string directory, string svaeDirectory, ITextTokenizer tokenizer, ScalarType dtype)
    {
        using (var shipped = SentenceVaeCheckpoint.Load(svaeDirectory))
        {
            var theirs = shipped.state_dict();
            var differing = model.Svae.state_dict().Where(kv => !kv.Value.to(dtype).to(kv.Value.dtype).allclose(theirs[kv.Key].to(dtype).to(kv.Value.dtype), 0, 0)).Select(kv => kv.Key).ToList();
            if (differing.Count > 0)
                throw new CheckpointException($"{svaeDirectory} differs from this model's SentenceVAE in {differing.Count} tensors (e.g. {differing[0]}); was the SentenceVAE frozen?");
        }
        Directory.CreateDirectory(directory);
        string relative = Path.GetRelativePath(Path.GetFullPath(directory), Path.GetFullPath(svaeDirectory));
        (model.Config with { SvaePath = relative }).Save(Path.Combine(directory, SentenceVaeCheckpoint.ConfigFile));
        string tmp = Path.Combine(directory, SentenceVaeCheckpoint.WeightsFile + ".tmp");
        TorchSharp.PyBridge.Safetensors.SaveStateDict(tmp, StateDicts.ForSaving(StateDicts.Untied(model).Where(kv => !kv.Key.StartsWith("svae.", StringComparison.Ordinal)), dtype));
        File.Move(tmp, Path.Combine(directory, SentenceVaeCheckpoint.WeightsFile), overwrite: true);
        tokenizer.Save(directory);
    }
}
