using System.Text.RegularExpressions;

namespace SentenceVae.Tests.Infrastructure;

/// <summary>The README's "Where things live" cannot go stale: every folder it names exists, and it names every folder of the library.</summary>
public class ReadmeLayoutTests
{
    [Fact]
    public void TheLayoutNamesEveryLibraryFolderAndOnlyFoldersThatExist()
    {
        string readme = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md"));
        var block = Regex.Match(readme, @"## Where things live\n```\n(.*?)```", RegexOptions.Singleline);
        Assert.True(block.Success, "the README has its layout block");
        var named = new List<string>();
        string top = "";
        foreach (var line in block.Groups[1].Value.Split('\n').Where(l => l.Trim().Length > 0))
        {
            string path = line.Trim().Split(' ')[0];
            if (line.StartsWith(' ')) path = top + path; else top = path;
            named.Add(path.TrimEnd('/'));
        }
        foreach (var path in named) Assert.True(Directory.Exists(Path.Combine(TestPaths.RepoRoot, path)), $"the README names {path}, which does not exist");
        string library = Path.Combine(TestPaths.RepoRoot, "src", "SentenceVae");
        var folders = Directory.GetDirectories(library, "*", SearchOption.AllDirectories)
            .Select(d => Path.GetRelativePath(TestPaths.RepoRoot, d).Replace('\\', '/'))
            .Where(d => !Regex.IsMatch(d, @"/(bin|obj)(/|$)"));
        foreach (var folder in folders) Assert.Contains(folder, named);
    }
}
