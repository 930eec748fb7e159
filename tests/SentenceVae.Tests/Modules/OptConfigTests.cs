using SentenceVae.Modules;

namespace SentenceVae.Tests.Modules;

public class OptConfigTests
{
    [Theory]
    [InlineData("opt-125m")]
    [InlineData("opt-350m")]
    [InlineData("opt-1.3b")]
    public void ConfigFilesMatchThePresets(string name)
    {
        var file = OptConfig.Load(Path.Combine(TestPaths.RepoRoot, "configs", "models", name + ".json"));
        var preset = OptConfig.Presets.ByName(name);
        Assert.Equal(preset with { WordEmbedProjDim = preset.EmbedDim }, file);
    }

    [Fact]
    public void TheBaselineTrainingConfigUsesTheLm256Preset()
    {
        var model = SentenceVae.Training.TrainConfig.Load(Path.Combine(TestPaths.RepoRoot, "configs", "lm-256.json")).ModelConfig<OptConfig>();
        var preset = OptConfig.Presets.Lm256;
        Assert.Equal(preset with { WordEmbedProjDim = preset.EmbedDim }, model);
    }

    [Fact]
    public void InvalidConfigsListEveryProblem()
    {
        var e = Assert.Throws<InvalidDataException>(() => (OptConfig.Presets.Lm256 with { HiddenSize = 250, ActivationFunction = "gelu", PadTokenId = 9000 }).Validate());
        Assert.Contains("not divisible", e.Message);
        Assert.Contains("gelu", e.Message);
        Assert.Contains("pad_token_id 9000", e.Message);
    }
}
