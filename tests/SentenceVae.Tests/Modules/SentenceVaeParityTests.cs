using SentenceVae.Checkpoints;
using SentenceVae.Inference;
using static TorchSharp.torch;

namespace SentenceVae.Tests.Modules;

/// <summary>Our SentenceVAE against the reference implementation's outputs (fixtures/svae-*), from both weight formats.</summary>
public class SentenceVaeParityTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var fixture in new[] { "svae-h1-sum", "svae-h2-learnable", "svae-h1-proj" })
            foreach (var weights in new[] { "model.safetensors", "model.pth" })
                data.Add(fixture, weights);
        return data;
    }

    private static double Tolerance(string fixture)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture(fixture, "config.json")));
        return doc.RootElement.TryGetProperty("tolerance", out var t) ? t.GetDouble() : 1e-4;
    }

    private static double MaxDiff(Tensor a, Tensor b)
    {
        Assert.Equal(b.shape, a.shape);
        return (a - b.reshape(a.shape)).abs().max().item<float>();
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesTheReferenceImplementation(string fixture, string weights)
    {
        using var scope = NewDisposeScope();
        using var model = SentenceVaeCheckpoint.Load(TestPaths.Fixture(fixture, "config.json"), TestPaths.Fixture(fixture, weights));
        var expected = HuggingFaceCheckpoint.ReadSafetensors(TestPaths.Fixture(fixture, "expected.safetensors"));
        double tol = Tolerance(fixture);
        using var noGrad = no_grad();
        var output = model.forward(expected["input_ids"], expected["attention_mask"]);

        Assert.True(MaxDiff(output.SentenceVectors, expected["sentence_embedding"]) < tol, "sentence_embedding");
        Assert.True(MaxDiff(output.Logits, expected["logits"]) < tol, "logits");
        Assert.Equal(expected["target_ids"].data<long>().ToArray(), output.TargetIds.data<long>().ToArray());
        Assert.True(Math.Abs(output.FocalLoss.item<float>() - expected["focal_loss"].item<float>()) < tol, "focal_loss");
        Assert.True(Math.Abs(output.CrossEntropy.item<float>() - expected["ce_loss"].item<float>()) < tol, "ce_loss");

        // Greedy decoding of sentence 0 from its own vector, cached, equals the reference's (EOS included when emitted).
        var greedy = expected["greedy_ids"].data<long>().Select(id => (int)id).ToArray();
        var codec = new SentenceCodec(model);
        var decoded = codec.Decode(output.SentenceVectors.narrow(0, 0, 1), new GenerationOptions { MaxNewTokens = greedy.Length, StopAtEos = true })[0];
        var withEos = decoded.Length < greedy.Length ? decoded.Append(model.Config.EosId).ToArray() : decoded;
        Assert.Equal(greedy, withEos);
    }
}
