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
        ModelDirectory.Expect(directory, ModelKind.TokenModel);
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
            using var doc = JsonDocument.Parse(BoundedFile.ReadAllText(indexPath, BoundedFile.ConfigBytes));
            weightMap = doc.RootElement.GetProperty("weight_map").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new CheckpointException($"{indexPath}: not a shard index with a \"weight_map\" ({e.Message})");
        }
        var all = new Dictionary<string, Tensor>();
        string root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)) + Path.DirectorySeparatorChar;
        foreach (var shard in weightMap.Values.Distinct())
        {
            string path = Path.GetFullPath(Path.Combine(directory, shard));
            if (Path.IsPathRooted(shard) || !path.StartsWith(root, StringComparison.Ordinal))
                throw new CheckpointException($"{indexPath}: shard '{shard}' lies outside the model directory; refusing to read it");
            if (!File.Exists(path)) throw new CheckpointException($"{indexPath}: shard {shard} is missing");
            foreach (var (key, tensor) in read(path)) all[key] = tensor;
        }
        var absent = weightMap.Keys.Where(k => !all.ContainsKey(k)).ToList();
        if (absent.Count > 0) throw new CheckpointException($"{indexPath}: {absent.Count} keys listed but not in their shards, e.g. {absent[0]}");
        return all;
    }

    /// <summary>Largest safetensors header read (Hugging Face's own reader caps it at 100 MB).</summary>
    public const long MaxSafetensorsHeaderBytes = 100L << 20;

    private static readonly Dictionary<string, (ScalarType Type, int Size)> SafetensorsTypes = new()
    {
        ["F64"] = (ScalarType.Float64, 8), ["F32"] = (ScalarType.Float32, 4), ["F16"] = (ScalarType.Float16, 2), ["BF16"] = (ScalarType.BFloat16, 2),
        ["I64"] = (ScalarType.Int64, 8), ["I32"] = (ScalarType.Int32, 4), ["I16"] = (ScalarType.Int16, 2), ["I8"] = (ScalarType.Int8, 1),
        ["U8"] = (ScalarType.Byte, 1), ["BOOL"] = (ScalarType.Bool, 1),
    };

    /// <summary>
    /// The tensors of a .safetensors file by name (fp16/bf16 kept as stored). The header is checked whole —
    /// dtypes, shapes, and offsets that tile the data exactly — before any tensor is allocated, so a damaged
    /// file is one <see cref="CheckpointException"/> and never allocates more than it holds.
    /// </summary>
    public static Dictionary<string, Tensor> ReadSafetensors(string path)
    {
        var result = new Dictionary<string, Tensor>();
        try
        {
            using var file = File.OpenRead(path);
            long length = file.Length;
            Span<byte> prefix = stackalloc byte[8];
            if (length < 8) throw new CheckpointException($"{path}: not a readable safetensors file (only {length} bytes)");
            file.ReadExactly(prefix);
            ulong headerLength = BitConverter.ToUInt64(prefix);
            if (headerLength > (ulong)(length - 8) || headerLength > MaxSafetensorsHeaderBytes)
                throw new CheckpointException($"{path}: its header claims {headerLength} bytes but the file has {length - 8} after the length");
            var header = new byte[headerLength];
            file.ReadExactly(header);
            long dataStart = 8 + (long)headerLength, dataLength = length - dataStart;
            var entries = new List<(string Name, ScalarType Type, long[] Shape, long Begin, long End)>();
            using (var doc = JsonDocument.Parse(header))
            {
                if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new CheckpointException($"{path}: its header is not a JSON object");
                foreach (var property in doc.RootElement.EnumerateObject())
                {
                    if (property.Name == "__metadata__") continue;
                    entries.Add(Entry(path, property.Name, property.Value, dataLength));
                }
            }
            // The tensors tile the data: sorted by offset, each starts where the previous ended.
            long expected = 0;
            foreach (var e in entries.OrderBy(e => e.Begin))
            {
                if (e.Begin != expected) throw new CheckpointException($"{path}: tensor {Shown(e.Name)} starts at byte {e.Begin} of the data, expected {expected} (overlap or gap)");
                expected = e.End;
            }
            if (expected != dataLength) throw new CheckpointException($"{path}: the tensors cover {expected} bytes of data but the file holds {dataLength}");
            foreach (var e in entries.OrderBy(e => e.Begin))
            {
                var data = new byte[e.End - e.Begin];
                file.Seek(dataStart + e.Begin, SeekOrigin.Begin);
                file.ReadExactly(data);
                var tensor = empty(e.Shape, e.Type);
                tensor.bytes = data;
                result[e.Name] = tensor;
            }
            return result;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            foreach (var t in result.Values) t.Dispose();
            if (e is CheckpointException or FileNotFoundException or DirectoryNotFoundException) throw;
            throw new CheckpointException($"{path}: not a readable safetensors file ({e.GetType().Name}: {string.Concat(e.Message.Select(c => char.IsControl(c) ? ' ' : c))})");   // one line, whatever the file held
        }
    }

    // A tensor name from the file as a message shows it: JSON-quoted, so a name with line breaks or control characters stays one line.
    private static string Shown(string name) => JsonSerializer.Serialize(name);

    private static (string Name, ScalarType Type, long[] Shape, long Begin, long End) Entry(string path, string name, JsonElement value, long dataLength)
    {
        CheckpointException Bad(string what) => new($"{path}: tensor {Shown(name)}: {what}");
        if (value.ValueKind != JsonValueKind.Object) throw Bad("its entry is not an object");
        if (!value.TryGetProperty("dtype", out var dtype) || dtype.ValueKind != JsonValueKind.String || !SafetensorsTypes.TryGetValue(dtype.GetString()!, out var kind))
            throw Bad("unknown or missing dtype");
        if (!value.TryGetProperty("shape", out var shape) || shape.ValueKind != JsonValueKind.Array || shape.GetArrayLength() > 16
            || shape.EnumerateArray().Any(d => d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long n) || n < 0))
            throw Bad("shape is not a list of non-negative integers");
        if (!value.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2
            || offsets.EnumerateArray().Any(d => d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out _)))
            throw Bad("data_offsets is not [begin, end]");
        var dims = shape.EnumerateArray().Select(d => d.GetInt64()).ToArray();
        long begin = offsets[0].GetInt64(), end = offsets[1].GetInt64();
        if (begin < 0 || end < begin || end > dataLength) throw Bad($"data_offsets [{begin}, {end}] fall outside the {dataLength} bytes of data");
        long bytes;
        try { bytes = checked(dims.Aggregate(1L, (a, b) => a * b) * kind.Size); }
        catch (OverflowException) { throw Bad($"shape {StateDicts.Shape(dims)} is too large"); }
        if (bytes != end - begin) throw Bad($"shape {StateDicts.Shape(dims)} of {dtype.GetString()} needs {bytes} bytes but data_offsets give {end - begin}");
        return (name, kind.Type, dims, begin, end);
    }

    /// <summary>pytorch_model.bin files are pickles: read with the same allow-list as any .pth (no pickled code runs).</summary>
    private static Dictionary<string, Tensor> ReadBin(string path) => SafePickle.ReadStateDict(path);
}
