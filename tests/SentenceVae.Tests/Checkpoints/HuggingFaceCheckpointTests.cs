using System.Text.Json;
using SentenceVae.Checkpoints;
using SentenceVae.Modules;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace SentenceVae.Tests.Checkpoints;

public class HuggingFaceCheckpointTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("svae-hf").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    private string CopyConfig(string fixture = "opt-pre")
    {
        File.Copy(TestPaths.Fixture(fixture, "config.json"), Path.Combine(dir, "config.json"));
        return dir;
    }

    private static Tensor ReferenceLogits(OptForCausalLm model)
    {
        var expected = HuggingFaceCheckpoint.ReadSafetensors(TestPaths.Fixture("opt-pre", "expected.safetensors"));
        using var noGrad = no_grad();
        return model.forward(expected["input_ids"], expected["attention_mask"]);
    }

    [Fact]
    public void ShardedAndHalfPrecisionCheckpointsLoadAsFloat32()
    {
        using var scope = NewDisposeScope();
        using var original = HuggingFaceCheckpoint.LoadOpt(TestPaths.Fixture("opt-pre"));
        var weights = HuggingFaceCheckpoint.ReadWeights(TestPaths.Fixture("opt-pre"));
        // Two shards in bf16 and fp16 plus the index, as save_pretrained writes large models.
        var keys = weights.Keys.Order().ToList();
        var first = keys.Take(keys.Count / 2).ToDictionary(k => k, k => weights[k].to(ScalarType.BFloat16));
        var second = keys.Skip(keys.Count / 2).ToDictionary(k => k, k => weights[k].to(ScalarType.Float16));
        Safetensors.SaveStateDict(Path.Combine(CopyConfig(), "model-00001-of-00002.safetensors"), first);
        Safetensors.SaveStateDict(Path.Combine(dir, "model-00002-of-00002.safetensors"), second);
        var map = first.Keys.ToDictionary(k => k, _ => "model-00001-of-00002.safetensors");
        foreach (var k in second.Keys) map[k] = "model-00002-of-00002.safetensors";
        File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"), JsonSerializer.Serialize(new { metadata = new { }, weight_map = map }));

        using var loaded = HuggingFaceCheckpoint.LoadOpt(dir);
        Assert.All(loaded.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        double diff = (ReferenceLogits(loaded) - ReferenceLogits(original)).abs().max().item<float>();
        Assert.InRange(diff, 0, 0.1);                    // half-precision rounding only
    }

    [Fact]
    public void SavedDirectoryLoadsBackIdentically()
    {
        using var scope = NewDisposeScope();
        using var original = HuggingFaceCheckpoint.LoadOpt(TestPaths.Fixture("opt-post"));
        HuggingFaceCheckpoint.SaveOpt(original, dir);
        Assert.DoesNotContain("lm_head.weight", HuggingFaceCheckpoint.ReadWeights(dir).Keys);
        using var loaded = HuggingFaceCheckpoint.LoadOpt(dir);
        var expected = HuggingFaceCheckpoint.ReadSafetensors(TestPaths.Fixture("opt-post", "expected.safetensors"));
        using var noGrad = no_grad();
        var a = original.forward(expected["input_ids"], expected["attention_mask"]);
        var b = loaded.forward(expected["input_ids"], expected["attention_mask"]);
        Assert.Equal(0f, (a - b).abs().max().item<float>());
    }

    [Fact]
    public void MissingUnexpectedAndMisshapenKeysAreAllListed()
    {
        using var scope = NewDisposeScope();
        var weights = HuggingFaceCheckpoint.ReadWeights(TestPaths.Fixture("opt-pre"));
        weights.Remove("model.decoder.layers.1.fc2.bias");
        weights["model.decoder.extra.weight"] = zeros(3);
        weights["model.decoder.layers.0.fc1.weight"] = zeros(5, 5);
        Safetensors.SaveStateDict(Path.Combine(CopyConfig(), "model.safetensors"), weights);
        var e = Assert.Throws<CheckpointException>(() => HuggingFaceCheckpoint.LoadOpt(dir));
        Assert.Contains("missing keys (1): model.decoder.layers.1.fc2.bias", e.Message);
        Assert.Contains("unexpected keys (1): model.decoder.extra.weight", e.Message);
        Assert.Contains("model.decoder.layers.0.fc1.weight: checkpoint [5, 5]", e.Message);
    }

    [Fact]
    public void BadDirectoriesFailClearly()
    {
        Assert.Throws<DirectoryNotFoundException>(() => HuggingFaceCheckpoint.LoadOpt(Path.Combine(dir, "nope")));
        Assert.Throws<FileNotFoundException>(() => HuggingFaceCheckpoint.LoadOpt(dir));
        CopyConfig();
        var e = Assert.Throws<CheckpointException>(() => HuggingFaceCheckpoint.LoadOpt(dir));
        Assert.Contains("no weights found", e.Message);
        File.WriteAllBytes(Path.Combine(dir, "model.safetensors"), [1, 2, 3, 4]);
        e = Assert.Throws<CheckpointException>(() => HuggingFaceCheckpoint.LoadOpt(dir));
        Assert.Contains("not a readable safetensors file", e.Message);
        File.WriteAllText(Path.Combine(dir, "config.json"), File.ReadAllText(TestPaths.Fixture("opt-pre", "config.json")).Replace("\"opt\"", "\"llama\""));
        var bad = Assert.Throws<InvalidDataException>(() => HuggingFaceCheckpoint.LoadOpt(dir));
        Assert.Contains("model_type 'llama' is not supported", bad.Message);
    }

    [Fact]
    public void PytorchModelBinLoadsLikeSafetensors()
    {
        using var scope = NewDisposeScope();
        using var original = HuggingFaceCheckpoint.LoadOpt(TestPaths.Fixture("opt-pre"));
        var weights = HuggingFaceCheckpoint.ReadWeights(TestPaths.Fixture("opt-pre"));
        PyTorchPickler.PickleStateDict(Path.Combine(CopyConfig(), "pytorch_model.bin"), weights.ToDictionary(kv => kv.Key, kv => kv.Value));
        using var loaded = HuggingFaceCheckpoint.LoadOpt(dir);
        Assert.Equal(0f, (ReferenceLogits(loaded) - ReferenceLogits(original)).abs().max().item<float>());
    }
}

public class ShardIndexTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("svae-shards").FullName;

    public void Dispose() => Directory.Delete(root, true);

    [Theory]
    [InlineData("../outside.safetensors")]
    [InlineData("sub/../../outside.safetensors")]
    [InlineData("/tmp/outside.safetensors")]
    public void AShardOutsideTheModelDirectoryIsRefused(string shard)
    {
        string model = Directory.CreateDirectory(Path.Combine(root, "model")).FullName;
        using (var scope = TorchSharp.torch.NewDisposeScope())
            TorchSharp.PyBridge.Safetensors.SaveStateDict(Path.Combine(root, "outside.safetensors"), new Dictionary<string, TorchSharp.torch.Tensor> { ["w"] = TorchSharp.torch.ones(2) });
        File.WriteAllText(Path.Combine(model, "model.safetensors.index.json"), $$$"""{"weight_map":{"w":"{{{shard}}}"}}""");
        var e = Assert.Throws<SentenceVae.Checkpoints.CheckpointException>(() => SentenceVae.Checkpoints.HuggingFaceCheckpoint.ReadWeights(model));
        Assert.Contains($"shard '{shard}' lies outside the model directory", e.Message);
    }
}
