using System.Text.RegularExpressions;

namespace SentenceVae.Tests.Infrastructure;

/// <summary>The library's stages follow the data flow: a stage uses only the stages below it, so no two depend on each other.</summary>
public class LayeringTests
{
    // Floors, lowest first; a folder may use its own floor's neighbours only when listed below it.
    private static readonly string[][] Floors =
    [
        ["Text"],
        ["Modules", "Data"],
        ["Checkpoints"],
        ["Inference"],
        ["Evaluation", "Serving"],
        ["Training"],
    ];

    [Fact]
    public void EachStageUsesOnlyTheStagesBelowIt()
    {
        string root = Path.Combine(TestPaths.RepoRoot, "src", "SentenceVae");
        int Floor(string stage) => Array.FindIndex(Floors, f => f.Contains(stage));
        var problems = new List<string>();
        foreach (var stage in Floors.SelectMany(f => f))
            foreach (var file in Directory.GetFiles(Path.Combine(root, stage), "*.cs"))
                foreach (Match used in Regex.Matches(File.ReadAllText(file), @"\bSentenceVae\.(Text|Modules|Data|Checkpoints|Inference|Evaluation|Serving|Training)\b"))
                {
                    string other = used.Groups[1].Value;
                    if (other != stage && Floor(other) >= Floor(stage)) problems.Add($"{Path.GetFileName(file)} ({stage}) uses {other}");
                }
        Assert.True(problems.Count == 0, string.Join("\n", problems.Distinct()));
    }
}
