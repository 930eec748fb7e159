namespace SentenceVae.Data;

/// <summary>Prompts cut from a long text for benchmarks and generation statistics.</summary>
public static class PromptSlices
{
    /// <summary><paramref name="count"/> prompts of about <paramref name="chars"/> characters spread evenly over a text, each starting and ending at a space.</summary>
    public static List<string> Spread(string text, int count, int chars = 300)
    {
        var prompts = new List<string>();
        int stride = Math.Max(1, (text.Length - chars) / Math.Max(1, count));
        for (int i = 0; i < count; i++)
        {
            int start = Math.Min(i * stride, Math.Max(0, text.Length - chars));
            int s = text.IndexOf(' ', start) is int a and >= 0 ? a + 1 : start;
            int end = Math.Min(text.Length, s + chars);
            int e = end < text.Length && text.LastIndexOf(' ', end - 1) is int b and > 0 && b > s ? b : end;
            prompts.Add(text[s..e]);
        }
        return prompts;
    }
}
