using SentenceVae.Checkpoints;
using SentenceVae.Evaluation;
using SentenceVae.Inference;
using SentenceVae.Modules;
using SentenceVae.Tests.Inference;
using SentenceVae.Text;
using static TorchSharp.torch;

namespace SentenceVae.Tests.Checkpoints;

/// <summary>The paper's recipe: a sentence-level model made from a token model has the parent's weights where the mapping says, and works before any training step.</summary>
public sealed class TokenModelConversionTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("svae-convert").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    /// <summary>A small trained-shaped token model saved as a model directory (with the compact tokenizer).</summary>
    private string Parent()
    {
        string path = Path.Combine(dir, "parent");
        using var lm = TokenGeneratorTests.TinyCompactLm(21);
        HuggingFaceCheckpoint.SaveOpt(lm, path);
        TextTokenizers.Compact.Save(path);
        return path;
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.to(ScalarType.Float32).allclose(b.to(ScalarType.Float32), 0, 0);

    [Theory]
    [InlineData(ConversionMapping.AllLayers)]
    [InlineData(ConversionMapping.Backbone)]
    public void TheParentsWeightsAreWhereTheMappingSays(ConversionMapping mapping)
    {
        string parentDir = Parent();
        using var parent = HuggingFaceCheckpoint.LoadOpt(parentDir);
        var config = TokenModelConversion.DefaultConfig(parent.Config);
        using var model = TokenModelConversion.Convert(parentDir, config, mapping);
        var ours = model.state_dict();
        var theirs = parent.state_dict();
        Tensor P(string key) => theirs["model.decoder." + key];

        Assert.True(Same(ours["llm_pe.weight"], P("embed_positions.weight")));
        foreach (int layer in new[] { 0, 1 })
            foreach (var key in new[] { "self_attn.q_proj.weight", "self_attn.v_proj.bias", "fc1.weight", "fc2.bias", "final_layer_norm.weight" })
                Assert.True(Same(ours[$"llm_layers.{layer}.{key}"], P($"layers.{layer}.{key}")), $"llm_layers.{layer}.{key}");
        Assert.True(Same(ours["final_layer_norm.weight"], P("final_layer_norm.weight")));
        Assert.True(Same(ours["svae.encoder.embed_token.weight"], P("embed_tokens.weight")));
        Assert.True(Same(ours["svae.decoder.linear.weight"], P("embed_tokens.weight")));            // the tied head is the parent's head

        var encoderInProj = cat([P("layers.0.self_attn.q_proj.weight"), P("layers.0.self_attn.k_proj.weight"), P("layers.0.self_attn.v_proj.weight")], 0);
        bool full = mapping == ConversionMapping.AllLayers;
        Assert.Equal(full, Same(ours["svae.encoder.encoder.layers.0.self_attn.in_proj_weight"], encoderInProj));
        Assert.Equal(full, Same(ours["svae.encoder.encoder.layers.0.linear1.weight"], P("layers.0.fc1.weight")));
        Assert.Equal(full, Same(ours["svae.decoder.decoder.layers.0.linear2.weight"], P("layers.1.fc2.weight")));   // the decoder: the parent's last layer
        Assert.Equal(full, Same(ours["svae.decoder.decoder.layers.0.linear1.bias"], P("layers.1.fc1.bias")));
        if (full) Assert.True(Same(ours["svae.decoder.decoder.layers.0.norm3.weight"], P("layers.1.final_layer_norm.weight")));   // (untrained norms are all ones either way)
        Assert.False(Same(ours["svae.decoder.decoder.layers.0.multihead_attn.in_proj_weight"], cat([P("layers.1.self_attn.q_proj.weight"), P("layers.1.self_attn.k_proj.weight"), P("layers.1.self_attn.v_proj.weight")], 0)));
    }

    [Fact]
    public void AConvertedModelLoadsGeneratesAndIsScoredBeforeAnyTrainingStep()
    {
        string parentDir = Parent();
        using var parent = HuggingFaceCheckpoint.LoadOpt(parentDir);
        string[] text = ["Emma smiled. She was happy."];
        double inMemory;
        using (var converted = TokenModelConversion.Convert(parentDir, TokenModelConversion.DefaultConfig(parent.Config), ConversionMapping.AllLayers))
        {
            converted.eval();
            inMemory = SllmEvaluator.Evaluate(converted, TextTokenizers.Compact, text).BitsPerByte!.Value;
            SentenceLlmCheckpoint.Save(converted, Path.Combine(dir, "converted"), TextTokenizers.Compact);
        }
        using var model = SentenceLlmCheckpoint.Load(Path.Combine(dir, "converted"));
        var tok = TextTokenizers.Load(Path.Combine(dir, "converted"));
        var written = new SentenceLlmGenerator(model, tok).Generate(["Emma smiled."], new SentenceGenerationOptions { MaxPieces = 2, IgnoreStop = true, Tokens = new GenerationOptions { MaxNewTokens = 8 } });
        Assert.Equal(2, written[0].Count);                                          // untrained, but it writes
        double loaded = SllmEvaluator.Evaluate(model, tok, text).BitsPerByte!.Value;
        Assert.True(double.IsFinite(loaded));
        Assert.Equal(inMemory, loaded, 6);                                      // the directory holds exactly the converted model
    }

    [Fact]
    public void AShapeTheParentCannotFillIsOneErrorNamingTheKey()
    {
        string parentDir = Parent();
        using var parent = HuggingFaceCheckpoint.LoadOpt(parentDir);
        var config = TokenModelConversion.DefaultConfig(parent.Config);
        var wider = config with { Backbone = config.Backbone with { HiddenSize = 64 } };
        var e = Assert.Throws<InvalidDataException>(() => TokenModelConversion.Convert(parentDir, wider, ConversionMapping.Backbone));
        Assert.Contains("backbone.hidden_size is 64", e.Message);
        var otherVocabulary = config with { Svae = config.Svae with { VocabSize = 9000 } };
        Assert.Contains("svae.vocab_size", Assert.Throws<InvalidDataException>(() => TokenModelConversion.Convert(parentDir, otherVocabulary, ConversionMapping.AllLayers)).Message);
    }
}
