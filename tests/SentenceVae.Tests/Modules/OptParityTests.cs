using SentenceVae.Checkpoints;
using SentenceVae.Modules;
using static TorchSharp.torch;

namespace SentenceVae.Tests.Modules;

/// <summary>Our OPT against Hugging Face transformers' outputs for the same tiny checkpoints (fixtures/opt-*).</summary>
public class OptParityTests
{
    private const double Tolerance = 1e-4;

    public static TheoryData<string> Layouts() => new() { "opt-pre", "opt-post" };

    [Theory]
    [MemberData(nameof(Layouts))]
    public void FullForwardLogitsMatchTransformers(string fixture)
    {
        using var scope = NewDisposeScope();
        using var model = HuggingFaceCheckpoint.LoadOpt(TestPaths.Fixture(fixture));
        var expected = HuggingFaceCheckpoint.ReadSafetensors(TestPaths.Fixture(fixture, "expected.safetensors"));
        using var noGrad = no_grad();
        var logits = model.forward(expected["input_ids"], expected["attention_mask"]);
        Assert.Equal(expected["logits"].shape, logits.shape);
        double maxDiff = (logits - expected["logits"]).abs().max().item<float>();
        Assert.True(maxDiff < Tolerance, $"max |Δlogit| = {maxDiff}");
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public void CachedStepLogitsMatchTransformers(string fixture)
    {
        using var scope = NewDisposeScope();
        using var model = HuggingFaceCheckpoint.LoadOpt(TestPaths.Fixture(fixture));
        var expected = HuggingFaceCheckpoint.ReadSafetensors(TestPaths.Fixture(fixture, "expected.safetensors"));
        var steps = expected["step_logits"];                                  // (1, 1 + steps, V)
        int stepCount = (int)steps.shape[1] - 1;
        var ids = expected["input_ids"].narrow(0, 0, 1);                      // (1, T)
        int prefill = (int)ids.shape[1] - stepCount;
        using var noGrad = no_grad();
        using var cache = model.NewCache();
        var logits = model.forward(ids.narrow(1, 0, prefill), ones(1, prefill, dtype: ScalarType.Int64), cache);
        var got = new List<Tensor> { logits.select(1, prefill - 1) };
        for (int s = 0; s < stepCount; s++)
        {
            int length = prefill + s + 1;
            logits = model.forward(ids.narrow(1, prefill + s, 1), ones(1, length, dtype: ScalarType.Int64), cache);
            got.Add(logits.select(1, 0));
        }
        Assert.Equal(prefill + stepCount, cache.Length);
        var stacked = stack(got, 1);                                           // (1, 1 + steps, V)
        double maxDiff = (stacked - steps).abs().max().item<float>();
        Assert.True(maxDiff < Tolerance, $"max |Δlogit| = {maxDiff}");
    }

    [Fact]
    public void LmHeadIsTiedAndAbsentFromTheFile()
    {
        using var scope = NewDisposeScope();
        Assert.DoesNotContain("lm_head.weight", HuggingFaceCheckpoint.ReadWeights(TestPaths.Fixture("opt-pre")).Keys);
        using var model = HuggingFaceCheckpoint.LoadOpt(TestPaths.Fixture("opt-pre"));
        var state = model.state_dict();
        using var noGrad = no_grad();
        state["model.decoder.embed_tokens.weight"][3, 5] = tensor(42f);
        Assert.Equal(42f, state["lm_head.weight"][3, 5].item<float>());
    }

    [Fact]
    public void Opt125MPresetHasThePublishedParameterCount()
    {
        using var model = new OptForCausalLm(OptConfig.Presets.Opt125M);
        Assert.Equal(125_239_296, model.ParameterCount());   // facebook/opt-125m
    }
}
