using SentenceVae.Checkpoints;
using SentenceVae.Modules;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace SentenceVae.Tests.Checkpoints;

/// <summary>
/// Seeded random byte mutations of a small .pth, a .safetensors and a config.json: every outcome is a
/// load or one clear error (CheckpointException for weights, InvalidDataException for a config) —
/// never another exception type, a hang or an allocation out of proportion to the file.
/// </summary>
public class CheckpointFuzzTests : IDisposable
{
    private const int Mutations = 2000;
    private readonly string dir = Directory.CreateTempSubdirectory("svae-fuzz").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    [Fact]
    public void MutatedPthFilesLoadOrFailWithCheckpointException() =>
        Fuzz(File.ReadAllBytes(TestPaths.Fixture("mmengine", "iter_10.pth")), "x.pth", path => Dispose(SafePickle.ReadStateDict(path)), typeof(CheckpointException), seed: 1);

    [Fact]
    public void MutatedSafetensorsFilesLoadOrFailWithCheckpointException()
    {
        string original = Path.Combine(dir, "original.safetensors");
        using (var scope = NewDisposeScope())
            Safetensors.SaveStateDict(original, new Dictionary<string, Tensor>
            {
                ["a.weight"] = arange(16, dtype: ScalarType.Float32).reshape(4, 4) * 0.37f - 2f, ["a.bias"] = ones(3, dtype: ScalarType.Float16), ["steps"] = arange(2, dtype: ScalarType.Int64),
            });
        Fuzz(File.ReadAllBytes(original), "x.safetensors", path => Dispose(HuggingFaceCheckpoint.ReadSafetensors(path)), typeof(CheckpointException), seed: 2);
    }

    [Fact]
    public void MutatedConfigFilesLoadOrFailWithAConfigError() =>
        Fuzz(File.ReadAllBytes(Path.Combine(TestPaths.RepoRoot, "models", "sllm-256-e2e", "config.json")), "config.json",
            path => SentenceLlmConfig.Load(path), typeof(InvalidDataException), seed: 3);

    private static void Dispose(Dictionary<string, Tensor> state)
    {
        foreach (var t in state.Values) t.Dispose();
    }

    private void Fuzz(byte[] original, string name, Action<string> load, Type allowed, int seed)
    {
        var rng = new Random(seed);
        string path = Path.Combine(dir, name);
        int loaded = 0, refused = 0;
        long largest = 0;                     // managed bytes one load allocated (this thread's own, whatever runs beside it)
        for (int i = 0; i < Mutations; i++)
        {
            byte[] mutated = Mutate(original, rng);
            File.WriteAllBytes(path, mutated);
            long allocated = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                load(path);
                loaded++;
            }
            catch (Exception e) when (e.GetType() == allowed)
            {
                Assert.DoesNotContain('\n', e.Message);
                Assert.Contains(path, e.Message);
                refused++;
            }
            catch (Exception e)
            {
                File.WriteAllBytes(Path.Combine(Path.GetTempPath(), $"fuzz-failure-{seed}-{i}-{name}"), mutated);
                Assert.Fail($"mutation {i} (seed {seed}): {e.GetType().Name}: {e.Message}");
            }
            largest = Math.Max(largest, GC.GetAllocatedBytesForCurrentThread() - allocated);
        }
        Assert.Equal(Mutations, loaded + refused);
        Assert.True(refused > Mutations / 10, $"only {refused} of {Mutations} mutations were refused: the mutations are too mild to test anything");
        // A guard against pathological loads (a declared 500 M floats read into memory): bounded by what one load allocates, not by time.
        // Process-wide memory would measure the tests running beside this one; what one load allocates is its own.
        Assert.True(largest < 64 << 20, $"one load allocated {largest >> 20} MB for a {original.Length}-byte file");
    }

    /// <summary>1–4 edits: random bytes, boundary values, a truncation, a deleted or duplicated span.</summary>
    internal static byte[] Mutate(byte[] original, Random rng)
    {
        var bytes = original.ToList();
        int edits = 1 + rng.Next(4);
        for (int e = 0; e < edits && bytes.Count > 1; e++)
        {
            int at = rng.Next(bytes.Count);
            switch (rng.Next(6))
            {
                case 0: case 1: bytes[at] = (byte)rng.Next(256); break;
                case 2: bytes[at] = new byte[] { 0, 0xFF, 0x7F, 0x80, (byte)'9', (byte)'"', (byte)'-', (byte)'{', (byte)']' }[rng.Next(9)]; break;
                case 3: bytes.RemoveRange(at, bytes.Count - at); break;
                case 4: bytes.RemoveRange(at, Math.Min(bytes.Count - at, 1 + rng.Next(16))); break;
                case 5: bytes.InsertRange(at, bytes.GetRange(at, Math.Min(bytes.Count - at, 1 + rng.Next(16)))); break;
            }
        }
        return bytes.ToArray();
    }

}

public class HostileConfigTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("svae-config").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    [Theory]
    [InlineData("[]")]
    [InlineData("null")]
    [InlineData("{\"model_type\":\"sentence_llm\",\"svae\":null,\"backbone\":null}")]
    [InlineData("{\"model_type\":\"sentence_llm\",\"svae\":{\"hidden_size\":1e30}}")]
    [InlineData("{\"model_type\":\"sentence_llm\",\"svae\":{\"hidden_size\":-4},\"backbone\":{}}")]
    public void HostileConfigsAreOneConfigError(string json)
    {
        string path = Path.Combine(dir, "config.json");
        File.WriteAllText(path, json);
        var e = Assert.Throws<InvalidDataException>(() => SentenceLlmConfig.Load(path));
        Assert.StartsWith(path, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}
