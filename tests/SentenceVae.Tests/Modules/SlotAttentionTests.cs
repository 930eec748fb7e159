using SentenceVae.Modules.Kernels;
using static TorchSharp.torch;

namespace SentenceVae.Tests.Modules;

public class SlotAttentionTests
{
    [Theory]
    [InlineData(64, 1, false)]     // a head of width 64 (every OPT size) in registers
    [InlineData(64, 2, false)]     // split over the kernels' team
    [InlineData(16, 2, false)]     // the general loop
    [InlineData(64, 2, true)]      // a bfloat16 cache, widened as it is read
    [InlineData(16, 1, true)]
    public void EachRowAttendsToItsPastAndItselfAsSoftmaxOfScaledDots(int hs, int threads, bool bfloat16)
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        int nh = 3, positions = 300, c = nh * hs;
        int[] slots = [1, 0], lengths = [270, 5];                      // slot 1 has a short past, slot 0 a long one (past 64K floats: split)
        var dtype = bfloat16 ? ScalarType.BFloat16 : ScalarType.Float32;
        var keys = randn(2, nh, positions, hs).to(dtype);
        var values = randn(2, nh, positions, hs).to(dtype);
        var qkv = randn(2, 3 * c);
        var (k0, v0) = (keys.to(ScalarType.Float32), values.to(ScalarType.Float32));
        var stored = qkv.to(dtype).to(ScalarType.Float32);                  // the new keys and values as the cache keeps them
        var qkvHost = qkv.data<float>().ToArray();
        var y = new float[2 * c];
        SlotAttention.Attend(keys, values, slots, lengths, nh, hs, positions, qkvHost, y, threads);

        for (int r = 0; r < 2; r++)
        {
            int slot = slots[r], length = lengths[slot] + 1;
            var q = qkv[r].narrow(0, 0, c).view(nh, 1, hs);
            var k = cat([k0[slot].narrow(1, 0, length - 1), stored[r].narrow(0, c, c).view(nh, 1, hs)], 1);     // (nh, length, hs)
            var v = cat([v0[slot].narrow(1, 0, length - 1), stored[r].narrow(0, 2 * c, c).view(nh, 1, hs)], 1);
            var expected = (q.matmul(k.transpose(1, 2)) / Math.Sqrt(hs)).softmax(-1).matmul(v).reshape(c);
            var actual = tensor(y.AsSpan(r * c, c).ToArray());
            Assert.True(actual.allclose(expected, rtol: 1e-4, atol: 1e-5), $"row {r}: max difference {(actual - expected).abs().max().item<float>()}");
            Assert.True(keys[slot].narrow(1, length - 1, 1).reshape(c).to(ScalarType.Float32).allclose(stored[r].narrow(0, c, c), 0, 0), "the new key is written at the row's position");
            Assert.True(values[slot].narrow(1, length - 1, 1).reshape(c).to(ScalarType.Float32).allclose(stored[r].narrow(0, 2 * c, c), 0, 0), "the new value is written at the row's position");
        }
    }
}
