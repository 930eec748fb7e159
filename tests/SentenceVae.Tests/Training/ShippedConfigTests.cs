using SentenceVae.Training;

namespace SentenceVae.Tests.Training;

/// <summary>Every config shipped in configs/ loads and validates; the quick ones are a first run's few minutes.</summary>
public class ShippedConfigTests
{
    public static IEnumerable<object[]> Configs() =>
        Directory.GetFiles(Path.Combine(TestPaths.RepoRoot, "configs"), "*.json", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}models{Path.DirectorySeparatorChar}"))
            .Select(f => new object[] { Path.GetRelativePath(TestPaths.RepoRoot, f) });

    [Theory]
    [MemberData(nameof(Configs))]
    public void EachShippedConfigLoadsAndValidates(string path) => TrainConfig.Load(Path.Combine(TestPaths.RepoRoot, path)).Validate();

    [Theory]
    [InlineData("configs/quick-lm.json", "lm")]
    [InlineData("configs/quick-sllm.json", "sllm")]
    public void TheQuickConfigsRunForThreeMinutes(string path, string kind)
    {
        var config = TrainConfig.Load(Path.Combine(TestPaths.RepoRoot, path));
        Assert.Equal(kind, config.Kind);
        Assert.Equal(3, config.MaxMinutes);
        Assert.True(config.EvalEvery <= 100 && config.LogEvery <= 10, "a short run validates and reports often");
    }
}
