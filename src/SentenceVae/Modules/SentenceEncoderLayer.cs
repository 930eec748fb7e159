using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SentenceVae.Modules;

/// <summary>PyTorch's post-norm nn.TransformerEncoderLayer (ReLU): x = norm1(x + attn(x)); x = norm2(x + ffn(x)).</summary>
internal sealed class SentenceEncoderLayer : nn.Module
{
    private readonly FusedMultiheadAttention self_attn;
    private readonly Linear linear1, linear2;
    private readonly LayerNorm norm1, norm2;
    private readonly Dropout dropout, dropout1, dropout2;

    public SentenceEncoderLayer(SentenceVaeConfig config) : base(nameof(SentenceEncoderLayer))
    {
        self_attn = new FusedMultiheadAttention(config.HiddenSize, config.NumAttentionHeads, config.Dropout);
        linear1 = nn.Linear(config.HiddenSize, config.Ffn);
        linear2 = nn.Linear(config.Ffn, config.HiddenSize);
        norm1 = nn.LayerNorm(config.HiddenSize);
        norm2 = nn.LayerNorm(config.HiddenSize);
        dropout = nn.Dropout(config.Dropout);
        dropout1 = nn.Dropout(config.Dropout);
        dropout2 = nn.Dropout(config.Dropout);
        RegisterComponents();
    }

    /// <param name="x">(B, T, C)</param>
    /// <param name="mask">additive padding mask (B, 1, 1, T)</param>
    /// <param name="projection">how the projections are computed (null: libtorch; an engine's step passes its kernels)</param>
    public Tensor forward(Tensor x, Tensor mask, IProjection? projection = null)
    {
        var p = projection ?? IProjection.Libtorch;
        x = norm1.forward(x + dropout1.forward(self_attn.SelfAttention(x, mask, null, 0, p)));
        return norm2.forward(x + dropout2.forward(p.Linear(linear2, dropout.forward(nn.functional.relu(p.Linear(linear1, x))))));   // (B, T, C)
    }
}
