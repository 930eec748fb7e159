using static TorchSharp.torch;

namespace SentenceVae.Tests.Infrastructure;

public class TorchLoadTests
{
    [Fact]
    public void NativeLibtorchLoadsAndComputes()
    {
        using var a = tensor(new float[] { 1, 2, 3 });
        using var b = a.matmul(a);
        Assert.Equal(14f, b.item<float>());
    }
}
