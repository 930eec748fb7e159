using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using SentenceVae.Checkpoints;
using static TorchSharp.torch;

namespace SentenceVae.Tests.Checkpoints;

/// <summary>The one .pth reader: what it loads, what it refuses, and the memory it may use.</summary>
public class SafePickleTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("svae-pickle").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    private static string Mmengine => TestPaths.Fixture("mmengine", "iter_10.pth");

    /// <summary>A protocol-2 pickle program written op by op.</summary>
    internal sealed class Program
    {
        private readonly List<byte> bytes = [0x80, 2];
        public Program Op(char op) { bytes.Add((byte)op); return this; }
        public Program Op(byte op) { bytes.Add(op); return this; }
        public Program Global(string module, string name) { bytes.Add((byte)'c'); bytes.AddRange(Encoding.ASCII.GetBytes($"{module}\n{name}\n")); return this; }
        public Program Str(string s) { var b = Encoding.UTF8.GetBytes(s); bytes.Add((byte)'X'); bytes.AddRange(BitConverter.GetBytes(b.Length)); bytes.AddRange(b); return this; }
        public Program Int(int v) { bytes.Add((byte)'J'); bytes.AddRange(BitConverter.GetBytes(v)); return this; }
        public Program Long(long v) { bytes.Add(0x8a); bytes.Add(8); bytes.AddRange(BitConverter.GetBytes(v)); return this; }
        public byte[] Stop() => [.. bytes, (byte)'.'];

        /// <summary>{ key: _rebuild_tensor_v2(storage '0' of <paramref name="numel"/> floats, 0, size, stride, False, OrderedDict()) }</summary>
        public static byte[] OneTensor(string key, long numel, long[] size, long[] stride)
        {
            var p = new Program().Op('}').Op('(').Str(key).Global("torch._utils", "_rebuild_tensor_v2").Op('(')
                .Op('(').Str("storage").Global("torch", "FloatStorage").Str("0").Str("cpu").Long(numel).Op('t').Op('Q').Int(0).Op('(');
            foreach (var n in size) p.Long(n);
            p.Op('t').Op('(');
            foreach (var n in stride) p.Long(n);
            return p.Op('t').Op(0x89).Global("collections", "OrderedDict").Op(')').Op('R').Op('t').Op('R').Op('u').Stop();
        }
    }

    /// <summary>A torch.save-style zip: entries in the order given.</summary>
    internal static string WriteZip(string path, params (string Name, byte[] Data)[] entries)
    {
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        foreach (var (name, data) in entries)
        {
            using var stream = zip.CreateEntry(name, CompressionLevel.NoCompression).Open();
            stream.Write(data);
        }
        return path;
    }

    private static byte[] Evil => new Program().Global("os", "system").Str("echo pwned").Op(0x85).Op('R').Stop();

    [Fact]
    public void AnMmengineRunnerCheckpointLoadsItsStateDictAndLeavesTheRestInert()
    {
        // meta (a numpy scalar, _codecs.encode), message_hub (HistoryBuffer objects holding numpy arrays),
        // optimizer and param_schedulers, as mmengine's CheckpointHook writes them (see fixtures/mmengine/make_fixture.py).
        var state = SafePickle.ReadStateDict(Mmengine);
        Assert.Equal(["encoder.row1", "encoder.weight", "encoder.weight_t", "head.bias"], state.Keys.Order());
        using var scope = NewDisposeScope();
        var weight = arange(12, dtype: ScalarType.Float32).view(3, 4);
        Assert.True(state["encoder.weight"].allclose(weight, 0, 0));
        Assert.True(state["encoder.weight_t"].allclose(weight.t(), 0, 0));
        Assert.True(state["encoder.row1"].allclose(weight[1], 0, 0));
        Assert.Equal(ScalarType.Float16, state["head.bias"].dtype);
        Assert.Equal([0.5f, -1.5f], state["head.bias"].to(ScalarType.Float32).data<float>().ToArray());
        var globals = SafePickle.Globals(ReadPickle(Mmengine), Mmengine);
        Assert.Contains("mmengine.logging.history_buffer.HistoryBuffer", globals);       // the parts that used to make the whole file refused
        Assert.Contains("numpy.core.multiarray._reconstruct", globals);
        Assert.Contains("_codecs.encode", globals);
    }

    private static byte[] ReadPickle(string path)
    {
        using var zip = ZipFile.OpenRead(path);
        using var stream = zip.Entries.Single(e => e.FullName.EndsWith("/data.pkl")).Open();
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }

    private (string Name, byte[] Data)[] MmengineEntries()
    {
        using var zip = ZipFile.OpenRead(Mmengine);
        return zip.Entries.Select(e =>
        {
            using var s = e.Open();
            using var m = new MemoryStream();
            s.CopyTo(m);
            return (e.FullName, m.ToArray());
        }).ToArray();
    }

    [Fact]
    public void TheScanCoversExactlyThePickleThatIsLoaded()
    {
        var entries = MmengineEntries();
        // A look-alike entry before the real data.pkl is neither scanned nor loaded: the file loads.
        string decoy = WriteZip(Path.Combine(dir, "decoy.pth"), [("iter_10/zdata.pkl", Evil), .. entries]);
        Assert.Equal(4, SafePickle.ReadStateDict(decoy).Count);
        // The hostile program as the real data.pkl, after a harmless look-alike: refused, naming the global.
        string hostile = WriteZip(Path.Combine(dir, "hostile.pth"),
            [("iter_10/zdata.pkl", entries.Single(e => e.Name.EndsWith("/data.pkl")).Data), .. entries.Where(e => !e.Name.EndsWith("/data.pkl")), ("iter_10/data.pkl", Evil)]);
        var e = Assert.Throws<CheckpointException>(() => SafePickle.ReadStateDict(hostile));
        Assert.Contains("'os.system'", e.Message);
        // Two archives' pickles: which one is meant is ambiguous, so neither is loaded.
        string two = WriteZip(Path.Combine(dir, "two.pth"), [.. entries, ("other/data.pkl", Evil)]);
        Assert.Contains("2 ARCHIVE/data.pkl entries", Assert.Throws<CheckpointException>(() => SafePickle.ReadStateDict(two)).Message);
    }

    [Theory]
    [InlineData("posix", "system")]
    [InlineData("builtins", "exec")]
    [InlineData("builtins", "getattr")]
    [InlineData("runpy", "run_path")]
    [InlineData("subprocess", "check_output")]
    [InlineData("socket", "create_connection")]
    public void GlobalsThatRunCodeRefuseTheWholeFile(string module, string name)
    {
        var program = new Program().Op('}').Op('(').Str("x").Global(module, name).Str("y").Op(0x85).Op('R').Op('u').Stop();
        string path = WriteZip(Path.Combine(dir, "bad.pth"), ("bad/data.pkl", program));
        var e = Assert.Throws<CheckpointException>(() => SafePickle.ReadStateDict(path));
        Assert.Contains($"'{module}.{name}'", e.Message);
        Assert.Contains("can run code", e.Message);
    }

    [Fact]
    public void AStorageThatDeclaresMoreThanItsEntryHoldsIsRefusedBeforeAllocating()
    {
        // 2 MB of pickle-and-data declaring 500 M floats (2 GB): refused from the sizes alone.
        string bomb = WriteZip(Path.Combine(dir, "bomb.pth"),
            ("bomb/data.pkl", Program.OneTensor("w", 500_000_000, [500_000_000], [1])), ("bomb/data/0", new byte[2 << 20]));
        long before = Environment.WorkingSet;
        var e = Assert.Throws<CheckpointException>(() => SafePickle.ReadStateDict(bomb));
        Assert.Contains("declares 500000000 FloatStorage elements but its entry holds 2097152 bytes", e.Message);
        Assert.True(Environment.WorkingSet - before < 64 << 20, $"memory grew by {(Environment.WorkingSet - before) >> 20} MB");

        // A view reaching past its storage.
        string past = WriteZip(Path.Combine(dir, "past.pth"), ("p/data.pkl", Program.OneTensor("w", 4, [3, 2], [2, 1])), ("p/data/0", new byte[16]));
        Assert.Contains("reaches past its storage", Assert.Throws<CheckpointException>(() => SafePickle.ReadStateDict(past)).Message);
    }

    [Fact]
    public async Task LoadingUsesAtMostAboutTwiceTheTensorBytes()
    {
        const int floats = 32 << 20;                                                     // 128 MB of tensor data
        string big = WriteZip(Path.Combine(dir, "big.pth"), ("big/data.pkl", Program.OneTensor("w", floats, [floats], [1])), ("big/data/0", new byte[floats * 4L]));
        GC.Collect();
        long before = Environment.WorkingSet, peak = before;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () => { while (!sampling.IsCancellationRequested) { peak = Math.Max(peak, Environment.WorkingSet); await Task.Delay(5); } });
        var state = SafePickle.ReadStateDict(big);
        sampling.Cancel();
        await sampler;
        peak = Math.Max(peak, Environment.WorkingSet);
        Assert.Equal(floats, state["w"].numel());
        state["w"].Dispose();
        Assert.True(peak - before < 2.3 * floats * 4L, $"peak grew by {(peak - before) >> 20} MB for {(floats * 4L) >> 20} MB of tensors");
    }

}
