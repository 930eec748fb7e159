using System.Text.Json;
using SentenceVae.Modules;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace SentenceVae.Checkpoints;

/// <summary>
/// Hugging Face model directories: <c>config.json</c> and weights as <c>model.safetensors</c>, sharded
/// safetensors (<c>model.safetensors.index.json</c>), or <c>pytorch_model.bin</c> (single or sharded).
/// Weights of any float dtype (fp16, bf16, fp32) load into an fp32 model unless asked otherwise.
/// </summary>
public static class HuggingFaceCheckpoint
{
    /// <summary>File names of a Hugging Face model directory: its config, single-file safetensors weights and PyTorch weights.</summary>
    public const string ConfigFile = "config.json", SafetensorsFile = "model.safetensors", BinFile = "pytorch_model.bin";

    /// <summary>Loads an OPT model directory (config.json + model.safetensors, sharded safetensors or pytorch_model.bin) into <paramref name="dtype"/> on <paramref name="device"/>; every key and shape is checked.</summary>
    public static OptForCausalLm LoadOpt(string directory, Device? device = null, ScalarType dtype = ScalarType.Float32)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"{directory}: no such directory");
        var config = OptConfig.Load(Path.Combine(directory, ConfigFile));
        var model = new OptForCausalLm(config);
        var weights = ReadWeights(directory);
        try
        {
            // Checkpoints saved from OPTModel (not OPTForCausalLM) name keys "decoder.*".
            var named = weights.ToDictionary(kv => kv.Key.StartsWith("decoder.", StringComparison.Ordinal) ? "model." + kv.Key : kv.Key, kv => kv.Value);
            var optional = config.TieWordEmbeddings ? new HashSet<string> { "lm_head.weight" } : null;
            StateDicts.LoadStrict(model, named, directory, optional);
        }
        finally
        {
            foreach (var t in weights.Values) t.Dispose();
        }
        model.to(dtype);
        if (device is not null) model.to(device);
        model.eval();
        return model;
    }

    /// <summary>Writes config.json + model.safetensors as save_pretrained does (the tied lm_head is left out).</summary>
    public static void SaveOpt(OptForCausalLm model, string directory, ScalarType dtype = ScalarType.Float32)
    {
        Directory.CreateDirectory(directory);
        model.Config.Save(Path.Combine(directory, ConfigFile));
        var state = StateDicts.ForSaving(model.state_dict()
            .Where(kv => !(model.Config.TieWordEmbeddings && kv.Key == "lm_head.weight")).ToDictionary(), dtype);
        string tmp = Path.Combine(directory, SafetensorsFile + ".tmp");
        Safetensors.SaveStateDict(tmp, state);
        File.Move(tmp, Path.Combine(directory, SafetensorsFile), overwrite: true);
    }

    /// <summary>All tensors of the directory's weight files, by key.</summary>
    public static Dictionary<string, Tensor> ReadWeights(string directory)
    {
        string single = Path.Combine(directory, SafetensorsFile);
        if (File.Exists(single)) return ReadSafetensors(single);
        string index = Path.Combine(directory, SafetensorsFile + ".index.json");
        if (File.Exists(index)) return ReadShards(directory, index, ReadSafetensors);
        string bin = Path.Combine(directory, BinFile);
        if (File.Exists(bin)) return ReadBin(bin);
        string binIndex = Path.Combine(directory, BinFile + ".index.json");
        if (File.Exists(binIndex)) return ReadShards(directory, binIndex, ReadBin);
        throw new CheckpointException($"{directory}: no weights found (looked for {SafetensorsFile}, {SafetensorsFile}.index.json, {BinFile}, {BinFile}.index.json)");
    }

    private static Dictionary<string, Tensor> ReadShards(string directory, string indexPath, Func<string, Dictionary<string, Tensor>> read)
    {
        Dictionary<string, string> weightMap;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(indexPath));
            weightMap = doc.RootElement.GetProperty("weight_map").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new CheckpointException($"{indexPath}: not a shard index with a \"weight_map\" ({e.Message})");
        }
        var all = new Dictionary<string, Tensor>();
        foreach (var shard in weightMap.Values.Distinct())
        {
            string path = Path.Combine(directory, shard);
            if (!File.Exists(path)) throw new CheckpointException($"{indexPath}: shard {shard} is missing");
            foreach (var (key, tensor) in read(path)) all[key] = tensor;
        }
        var absent = weightMap.Keys.Where(k => !all.ContainsKey(k)).ToList();
        if (absent.Count > 0) throw new CheckpointException($"{indexPath}: {absent.Count} keys listed but not in their shards, e.g. {absent[0]}");
        return all;
    }

    /// <summary>The tensors of a .safetensors file by name (fp16/bf16 kept as stored).</summary>
    public static Dictionary<string, Tensor> ReadSafetensors(string path)
    {
        try { return Safetensors.LoadStateDict(path); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new CheckpointException($"{path}: not a readable safetensors file ({e.GetType().Name}: {e.Message})");
        }
    }

    /// <summary>pytorch_model.bin files are pickles: read with the same allow-list as any .pth (no pickled code runs).</summary>
    private static Dictionary<string, Tensor> ReadBin(string path) => SafePickle.ReadStateDict(path);
}
