using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SentenceVae.Modules;

/// <summary>A numbered list of layers under the key <c>layers</c>, as PyTorch's nn.TransformerEncoder/Decoder hold them.</summary>
internal sealed class LayerStack<TLayer> : nn.Module where TLayer : nn.Module
{
    private readonly ModuleList<TLayer> layers;

    public LayerStack(IEnumerable<TLayer> items) : base("LayerStack")
    {
        layers = nn.ModuleList(items.ToArray());
        RegisterComponents();
    }

    public int Count => layers.Count;
    public TLayer this[int i] => layers[i];
}
