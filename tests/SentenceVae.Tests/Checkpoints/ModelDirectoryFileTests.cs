using System.Text.Json.Nodes;
using SentenceVae.Checkpoints;
using SentenceVae.Text;

namespace SentenceVae.Tests.Checkpoints;

/// <summary>The small files of a model directory are read only when they are regular files of bounded size, and its tokenizer must fit the model.</summary>
public sealed class ModelDirectoryFileTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("svae-files").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    private string CopyOfLm()
    {
        string copy = Path.Combine(dir, "lm");
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.GetFiles(Path.Combine(TestPaths.RepoRoot, "models", "lm-256"))) File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        return copy;
    }

    [Fact]
    public void AConfigThatIsADeviceIsRefusedAtOnce()
    {
        string model = CopyOfLm();
        File.Delete(Path.Combine(model, "config.json"));
        File.CreateSymbolicLink(Path.Combine(model, "config.json"), "/dev/urandom");
        var e = Assert.ThrowsAny<Exception>(() => HuggingFaceCheckpoint.LoadOpt(model));
        Assert.IsType<InvalidDataException>(e);
        Assert.Contains("config.json", e.Message);
        Assert.Contains("regular file", e.Message);
    }

    [Fact]
    public void AConfigLargerThanAnyConfigIsRefusedWithoutReadingIt()
    {
        string model = CopyOfLm();
        using (var big = File.Create(Path.Combine(model, "config.json"))) big.SetLength(BoundedFile.ConfigBytes + 1);   // sparse
        var e = Assert.Throws<InvalidDataException>(() => HuggingFaceCheckpoint.LoadOpt(model));
        Assert.Contains("more than", e.Message);
    }

    [Fact]
    public void ATokenizerWhoseSpecialIdsTheModelHasNoRowForIsOneLine()
    {
        string model = CopyOfLm();
        string descriptor = Path.Combine(model, "svae_tokenizer.json");
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(model, "config.json")))!;
        config["vocab_size"] = 4096;                                                    // the tokenizer's 8,192 ids do not fit
        File.WriteAllText(Path.Combine(model, "config.json"), config.ToJsonString());
        var e = Assert.Throws<TokenizerLoadException>(() => TextTokenizers.Load(model));
        Assert.Contains("vocab_size 4096", e.Message);
        Assert.True(File.Exists(descriptor));
    }
}
