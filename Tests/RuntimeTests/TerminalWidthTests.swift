import LiaisonClient
import Testing

@Suite struct TerminalWidthTests {
    @Test(arguments: [("PC-1001", 7), ("我们已经联系了派出所", 20), ("Li 伟", 5), ("ＳＴＮ", 6), ("é", 1), ("e\u{301}", 1),
                      ("👮", 2), ("한국", 4), ("", 0), ("follow-up: 回电", 15)] as [(String, Int)])
    func columnsAsATerminalShowsThem(text: String, columns: Int) {
        #expect(TerminalWidth.columns(text) == columns)
    }

    @Test func paddedToColumnsLinesUpMixedScripts() {
        let cells = ["回电", "call back", "é"].map { TerminalWidth.padded($0, to: 10) + "|" }
        #expect(cells.map { TerminalWidth.columns($0) } == [11, 11, 11])
        #expect(TerminalWidth.padded("longer than ten", to: 10) == "longer than ten")
    }
}
