using System.Collections;
using System.IO.Compression;
using System.Text;
using SentenceVae.Checkpoints;
using SentenceVae.Text;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace SentenceVae.Tests.Checkpoints;

public class SentenceVaeCheckpointTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("svae-ckpt").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    private static string Fixture(string file) => TestPaths.Fixture("svae-h2-learnable", file);

    private static Tensor Logits(SentenceVae.Modules.SentenceVaeModel model)
    {
        var expected = HuggingFaceCheckpoint.ReadSafetensors(Fixture("expected.safetensors"));
        using var noGrad = no_grad();
        return model.forward(expected["input_ids"], expected["attention_mask"]).Logits;
    }

    /// <summary>A torch.save-style zip whose data.pkl is the given pickle program.</summary>
    private string WritePth(string name, byte[] pickle)
    {
        string path = Path.Combine(dir, name);
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        using var stream = zip.CreateEntry("archive/data.pkl").Open();
        stream.Write(pickle);
        return path;
    }

    [Theory]
    [InlineData("os", "system")]
    [InlineData("builtins", "eval")]
    [InlineData("subprocess", "Popen")]
    public void RefusesPicklesThatNameOtherGlobals(string module, string name)
    {
        // protocol 2 GLOBAL + REDUCE: what a malicious checkpoint does to run a command at load time.
        byte[] global = [0x80, 2, (byte)'c', .. Encoding.ASCII.GetBytes($"{module}\n{name}\n"), (byte)'X', 4, 0, 0, 0, .. "echo"u8, 0x85, (byte)'R', (byte)'.'];
        var e = Assert.Throws<CheckpointException>(() => SafePickle.ReadStateDict(WritePth("evil.pth", global)));
        Assert.Contains($"'{module}.{name}'", e.Message);

        // protocol 4 STACK_GLOBAL with memoized strings.
        var m = Encoding.ASCII.GetBytes(module);
        var n = Encoding.ASCII.GetBytes(name);
        byte[] stack = [0x80, 4, 0x8c, (byte)m.Length, .. m, 0x94, 0x8c, (byte)n.Length, .. n, 0x94, 0x93, (byte)')', (byte)'R', (byte)'.'];
        e = Assert.Throws<CheckpointException>(() => SafePickle.ReadStateDict(WritePth("evil4.pth", stack)));
        Assert.Contains($"'{module}.{name}'", e.Message);
    }

    [Fact]
    public void ReferencePthUsesOnlyAllowedGlobals()
    {
        using var zip = ZipFile.OpenRead(Fixture("model.pth"));
        var entry = zip.Entries.Single(e => e.FullName.EndsWith("data.pkl"));
        using var memory = new MemoryStream();
        using (var s = entry.Open()) s.CopyTo(memory);
        var globals = SafePickle.Globals(memory.ToArray(), "model.pth");
        Assert.Contains("torch._utils._rebuild_tensor_v2", globals);
        Assert.All(globals, g => Assert.Contains(g, SafePickle.AllowedGlobals));
    }

    [Fact]
    public void LoadsAWrappedMmengineCheckpoint()
    {
        using var scope = NewDisposeScope();
        var state = SentenceVaeCheckpoint.ReadStateDict(Fixture("model.pth"));
        var wrapped = new Hashtable { ["state_dict"] = new Hashtable(state.ToDictionary(kv => (object)kv.Key, kv => (object?)kv.Value)), ["meta"] = new Hashtable { ["epoch"] = 3 } };
        string path = Path.Combine(dir, "iter_1000.pth");
        PyTorchPickler.PickleStateDict(path, wrapped);
        File.Copy(Fixture("config.json"), Path.Combine(dir, "config.json"));
        using var reference = SentenceVaeCheckpoint.Load(Fixture("config.json"), Fixture("model.safetensors"));
        using var fromWrapped = SentenceVaeCheckpoint.Load(Path.Combine(dir, "config.json"), path);
        Assert.Equal(0f, (Logits(reference) - Logits(fromWrapped)).abs().max().item<float>());
    }

    [Fact]
    public void SavedDirectoryAndExportedPthLoadBackIdentically()
    {
        using var scope = NewDisposeScope();
        using var model = SentenceVaeCheckpoint.Load(Fixture("config.json"), Fixture("model.safetensors"));
        SentenceVaeCheckpoint.Save(model, Path.Combine(dir, "model"), TextTokenizers.Gpt2);
        using var reloaded = SentenceVaeCheckpoint.Load(Path.Combine(dir, "model"));
        Assert.Equal(0f, (Logits(model) - Logits(reloaded)).abs().max().item<float>());
        // GPT-2's ids do not fit this 512-token test model: loading its tokenizer says so instead of failing later.
        Assert.Contains("vocab_size 512", Assert.Throws<TokenizerLoadException>(() => TextTokenizers.Load(Path.Combine(dir, "model"))).Message);

        string pth = Path.Combine(dir, "export.pth");
        SentenceVaeCheckpoint.ExportPth(model, pth);
        var keys = SentenceVaeCheckpoint.ReadStateDict(pth).Keys.Order().ToList();
        Assert.Equal(SentenceVaeCheckpoint.ReadStateDict(Fixture("model.safetensors")).Keys.Order().ToList(), keys);
        using var fromPth = SentenceVaeCheckpoint.Load(Fixture("config.json"), pth);
        Assert.Equal(0f, (Logits(model) - Logits(fromPth)).abs().max().item<float>());
    }

    [Fact]
    public void TruncatedOrForeignFilesGiveClearErrors()
    {
        byte[] good = File.ReadAllBytes(Fixture("model.pth"));
        string truncated = Path.Combine(dir, "truncated.pth");
        File.WriteAllBytes(truncated, good[..(good.Length / 2)]);
        var e = Assert.ThrowsAny<IOException>(() => SentenceVaeCheckpoint.Load(Fixture("config.json"), truncated));
        Assert.Contains("truncated.pth", e.Message);

        string text = Path.Combine(dir, "notes.pth");
        File.WriteAllText(text, "these are not weights\n");
        e = Assert.ThrowsAny<IOException>(() => SentenceVaeCheckpoint.Load(Fixture("config.json"), text));
        Assert.Contains("notes.pth", e.Message);

        string badSafetensors = Path.Combine(dir, "bad.safetensors");
        File.WriteAllBytes(badSafetensors, good[..100]);
        e = Assert.ThrowsAny<IOException>(() => SentenceVaeCheckpoint.Load(Fixture("config.json"), badSafetensors));
        Assert.Contains("bad.safetensors", e.Message);
    }

    [Fact]
    public void KeysThatDoNotFitAreListed()
    {
        using var scope = NewDisposeScope();
        // h2 weights into an h1 config: the second layers are unexpected.
        var e = Assert.Throws<CheckpointException>(() => SentenceVaeCheckpoint.Load(TestPaths.Fixture("svae-h1-sum", "config.json"), Fixture("model.safetensors")));
        Assert.Contains("unexpected keys", e.Message);
        Assert.Contains("decoder.decoder.layers.1.", e.Message);
    }
}
