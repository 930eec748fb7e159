using System.Text.RegularExpressions;

namespace SentenceVae.Tests.Infrastructure;

/// <summary>The library's stages follow the data flow: a stage uses only the stages below it, so no two depend on each other.</summary>
public class LayeringTests
{
    // Floors, lowest first. A stage uses stages of lower floors only: never a higher one, nor another stage of its own floor.
    private static readonly string[][] Floors =
    [
        ["Text"],
        ["Modules", "Data"],
        ["Checkpoints"],
        ["Inference"],
        ["Evaluation", "Serving"],
        ["Training"],
    ];

    private static readonly string Stages = string.Join("|", Floors.SelectMany(f => f));

    // A stage named by its full namespace (SentenceVae.Checkpoints…, in a using or in code), or relative to the
    // library's namespace as code inside it may write it (Checkpoints.StateDicts, Modules.Kernels.WeightFormat): a stage's
    // name not after a dot, then a dot and a type's name.
    private static readonly Regex Reference = new($@"\bSentenceVae\.(?<stage>{Stages})\b|(?<![\w.])(?<stage>{Stages})\.(?=[A-Z])", RegexOptions.Compiled);

    /// <summary>Every reference from a stage's files (in every subfolder) to a stage of its own or a higher floor, as "file (stage) uses other".</summary>
    public static List<string> Problems(string root)
    {
        int Floor(string stage) => Array.FindIndex(Floors, f => f.Contains(stage));
        var problems = new List<string>();
        foreach (var stage in Floors.SelectMany(f => f))
        {
            string folder = Path.Combine(root, stage);
            if (!Directory.Exists(folder)) continue;
            foreach (var file in Directory.GetFiles(folder, "*.cs", SearchOption.AllDirectories))
            {
                // Comments may name any stage; code may not.
                string code = Regex.Replace(File.ReadAllText(file), @"//.*?$|/\*.*?\*/", "", RegexOptions.Multiline | RegexOptions.Singleline);
                foreach (Match used in Reference.Matches(code))
                {
                    string other = used.Groups["stage"].Value;
                    if (other != stage && Floor(other) >= Floor(stage)) problems.Add($"{Path.GetRelativePath(root, file)} ({stage}) uses {other}");
                }
            }
        }
        return problems.Distinct().ToList();
    }

    [Fact]
    public void EachStageUsesOnlyTheStagesBelowIt()
    {
        var problems = Problems(Path.Combine(TestPaths.RepoRoot, "src", "SentenceVae"));
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void UnsafeCodeLivesOnlyWithTheKernels()
    {
        string src = Path.Combine(TestPaths.RepoRoot, "src");
        var outside = Directory.GetFiles(src, "*.cs", SearchOption.AllDirectories)
            .Where(f => !Regex.IsMatch(f.Replace('\\', '/'), @"/(bin|obj)/|/Modules/Kernels/"))
            .Where(f => Regex.IsMatch(Regex.Replace(File.ReadAllText(f), @"//.*?$|/\*.*?\*/", "", RegexOptions.Multiline | RegexOptions.Singleline), @"\bunsafe\b"))
            .Select(f => Path.GetRelativePath(src, f)).ToList();
        Assert.True(outside.Count == 0, "unsafe code outside Modules/Kernels: " + string.Join(", ", outside));
    }

    [Theory]
    [InlineData("Text/Deep/Nested.cs", "namespace SentenceVae.Text;\nclass A { object B => SentenceVae.Training.Trainer.X; }", "uses Training")]
    [InlineData("Modules/Kernels/K.cs", "namespace SentenceVae.Modules;\nclass A { object B => Checkpoints.StateDicts.Untied(null!); }", "uses Checkpoints")]
    [InlineData("Inference/R.cs", "using SentenceVae.Serving;\nnamespace SentenceVae.Inference;\nclass A { }", "uses Serving")]
    [InlineData("Evaluation/S.cs", "namespace SentenceVae.Evaluation;\nclass A { object B => Serving.ServedModel.X; }", "uses Serving")]
    public void APlantedUpwardReferenceIsFound(string file, string code, string expected)
    {
        string root = Directory.CreateTempSubdirectory("svae-layers").FullName;
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(root, file))!);
            File.WriteAllText(Path.Combine(root, file), code);
            File.WriteAllText(Path.Combine(root, Path.GetDirectoryName(file)!, "Fine.cs"), "namespace SentenceVae.X;\n// Training.Trainer in a comment is fine\nclass C { string S => row.Text.Trim(); }");
            Assert.Contains(Problems(root), p => p.Contains(expected));
            Assert.Single(Problems(root));
        }
        finally { Directory.Delete(root, true); }
    }
}
