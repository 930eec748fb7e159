using SentenceVae.Modules;
using SentenceVae.Training;

namespace SentenceVae.Tests.Training;

public class ConfigFileTests
{
    private static TrainConfig Load(string name) => TrainConfig.Load(Path.Combine(TestPaths.RepoRoot, "configs", name + ".json"));

    [Fact]
    public void Every_training_config_validates_with_its_kind_of_model()
    {
        var files = Directory.GetFiles(Path.Combine(TestPaths.RepoRoot, "configs"), "*.json");
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            var config = TrainConfig.Load(file);
            switch (config.Kind)
            {
                case "vae": config.ModelConfig<SentenceVaeConfig>().Validate(); break;
                case "lm": config.ModelConfig<OptConfig>().Validate(); break;
                case "sllm":
                    var sllm = config.ModelConfig<SentenceLlmConfig>();
                    sllm.Svae.Validate();
                    sllm.Backbone.Validate();
                    break;
                default: Assert.Fail($"{file}: unknown kind {config.Kind}"); break;
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void Each_sllm_config_reuses_its_vae_config_and_the_baseline_backbone(int layers)
    {
        var sllm = Load($"sllm-256-h{layers}");
        var model = sllm.ModelConfig<SentenceLlmConfig>();

        Assert.Equal(Load($"vae-256-h{layers}").ModelConfig<SentenceVaeConfig>(), model.Svae);
        Assert.Equal(Load("lm-256").ModelConfig<OptConfig>(), model.Backbone);
        Assert.Equal($"models/vae-256-h{layers}", sllm.InitSvae);
    }
}
