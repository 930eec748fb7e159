using SentenceVae.Modules;
using SentenceVae.Text;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace SentenceVae.Checkpoints;

/// <summary>
/// SentenceVAE model directories (<c>config.json</c> + <c>model.safetensors</c> + tokenizer files) and
/// the reference implementation's PyTorch checkpoints (<c>.pth</c>: a bare state dict, or mmengine's
/// <c>{"state_dict": …, "meta": …}</c>), read without running any pickled code.
/// </summary>
public static class SentenceVaeCheckpoint
{
    /// <summary>File names of a model directory: the config and the weights.</summary>
    public const string ConfigFile = "config.json", WeightsFile = "model.safetensors";

    /// <summary>Loads a model directory, or a config + weights file pair (<c>.safetensors</c> or <c>.pth</c>).</summary>
    public static SentenceVaeModel Load(string directory, Device? device = null)
    {
        ModelDirectory.Expect(directory, ModelKind.SentenceVae);
        return Load(Path.Combine(directory, ConfigFile), FindWeights(directory), device);
    }

    /// <summary>A model directory's weights: model.safetensors, else its single .pth file.</summary>
    public static string FindWeights(string directory)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"{directory}: no such directory");
        string weights = Path.Combine(directory, WeightsFile);
        if (File.Exists(weights)) return weights;
        var pth = Directory.GetFiles(directory, "*.pth");
        return pth.Length == 1 ? pth[0] : throw new CheckpointException($"{directory}: no {WeightsFile} (nor a single .pth file)");
    }

    /// <summary>Loads a config file and a weights file (.safetensors or a reference .pth), in evaluation mode.</summary>
    public static SentenceVaeModel Load(string configPath, string weightsPath, Device? device = null)
    {
        var config = SentenceVaeConfig.Load(configPath);
        var model = new SentenceVaeModel(config);
        var state = ReadStateDict(weightsPath);
        try { StateDicts.LoadStrict(model, state, weightsPath, StateDicts.TiedKeys(model)); }
        finally { foreach (var t in state.Values) t.Dispose(); }
        if (device is not null) model.to(device);
        model.eval();
        return model;
    }

    /// <summary>Tensors of a <c>.safetensors</c> or <c>.pth</c> file by key (a wrapped mmengine checkpoint is unwrapped).</summary>
    public static Dictionary<string, Tensor> ReadStateDict(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file", path);
        return Path.GetExtension(path).ToLowerInvariant() switch
        {
            ".safetensors" => HuggingFaceCheckpoint.ReadSafetensors(path),
            ".pth" or ".pt" or ".bin" => SafePickle.ReadStateDict(path),
            _ => throw new CheckpointException($"{path}: unknown weights format (expected .safetensors or .pth)"),
        };
    }

    /// <summary>Writes config.json, model.safetensors and the tokenizer's files (atomically per file).</summary>
    public static void Save(SentenceVaeModel model, string directory, ITextTokenizer? tokenizer = null, ScalarType dtype = ScalarType.Float32)
    {
        Directory.CreateDirectory(directory);
        model.Config.Save(Path.Combine(directory, ConfigFile));
        SaveWeights(model, directory, dtype);
        tokenizer?.Save(directory);
    }

    /// <summary>Writes model.safetensors into a directory (temporary name, then rename).</summary>
    public static void SaveWeights(nn.Module model, string directory, ScalarType dtype)
    {
        string tmp = Path.Combine(directory, WeightsFile + ".tmp");
        Safetensors.SaveStateDict(tmp, StateDicts.ForSaving(StateDicts.Untied(model), dtype));
        File.Move(tmp, Path.Combine(directory, WeightsFile), overwrite: true);
    }

    /// <summary>Writes the state dict as a PyTorch <c>.pth</c> that <c>torch.load</c> reads (reference key names).</summary>
    public static void ExportPth(nn.Module model, string path)
    {
        string tmp = path + ".tmp";
        PyTorchPickler.PickleStateDict(tmp, StateDicts.ForSaving(model.state_dict(), ScalarType.Float32));
        File.Move(tmp, path, overwrite: true);
    }
}
