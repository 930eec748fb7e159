using TorchSharp.Modules;
using static TorchSharp.torch;
using SentenceVae.Modules.Kernels;

namespace SentenceVae.Modules;

/// <summary>One OPT block: self-attention and a ReLU FFN, each with a residual; layer norms before (pre-norm) or after (post-norm).</summary>
internal sealed class OptDecoderLayer : nn.Module
{
    private readonly bool preNorm;
    private readonly OptAttention self_attn;
    private readonly LayerNorm self_attn_layer_norm, final_layer_norm;
    private readonly Linear fc1, fc2;
    private readonly Dropout dropout;

    public OptDecoderLayer(OptConfig config) : base(nameof(OptDecoderLayer))
    {
        preNorm = config.DoLayerNormBefore;
        self_attn = new OptAttention(config);
        self_attn_layer_norm = nn.LayerNorm(config.HiddenSize, elementwise_affine: config.LayerNormElementwiseAffine);
        fc1 = nn.Linear(config.HiddenSize, config.FfnDim, hasBias: config.EnableBias);
        fc2 = nn.Linear(config.FfnDim, config.HiddenSize, hasBias: config.EnableBias);
        final_layer_norm = nn.LayerNorm(config.HiddenSize, elementwise_affine: config.LayerNormElementwiseAffine);
        dropout = nn.Dropout(config.Dropout);
        RegisterComponents();
    }

    /// <param name="x">(B, T, C)</param>
    /// <param name="mask">additive causal + padding mask (B, 1, T, past+T)</param>
    /// <param name="cache">the KV cache to read and append to (null: no cache)</param>
    /// <param name="layer">this layer's index in the cache</param>
    public Tensor forward(Tensor x, Tensor mask, IKvCache? cache, int layer)
    {
        var h = preNorm ? self_attn_layer_norm.forward(x) : x;
        x = x + dropout.forward(self_attn.forward(h, mask, cache, layer));
        if (!preNorm) x = self_attn_layer_norm.forward(x);

        h = preNorm ? final_layer_norm.forward(x) : x;
        x = x + dropout.forward(fc2.forward(nn.functional.relu(fc1.forward(h))));
        if (!preNorm) x = final_layer_norm.forward(x);
        return x;                                                            // (B, T, C)
    }

    /// <summary>This layer's decode step outside libtorch, its weights packed in <paramref name="format"/>.</summary>
    public OptLayerKernel Kernel(WeightFormat format, int threads) =>
        new(preNorm, self_attn_layer_norm, self_attn.Projections, final_layer_norm, fc1, fc2, format, threads);
}
