"""Fills locale/zh_Hans/LC_MESSAGES/django.po from the table below (run after makemessages).

    .venv/bin/python manage.py makemessages -l zh_Hans --no-location -i "tests/*" -i "bench/*" \
        -i "fakecloud/*" -i "var/*" -i "test-artifacts/*" -i "scripts/*"
    .venv/bin/python locale/translate_zh.py
    .venv/bin/python manage.py compilemessages -l zh_Hans -i .venv

It refuses to finish while any msgid has no translation, so the catalogue stays complete.
"""

import re
import sys
from pathlib import Path

PO = Path(__file__).resolve().parent / "zh_Hans" / "LC_MESSAGES" / "django.po"

ZH = {
    "Huawei Cloud MetaStudio": "华为云 MetaStudio",
    "Tencent Cloud CI": "腾讯云数据万象 CI",
    "Credentials (write-only)": "凭证（只写）",
    "Sync": "同步",
    "Status": "状态",
    "secret": "密钥",
    "set": "已设置",
    "not set": "未设置",
    "last error": "最近错误",
    "cached jobs": "已缓存任务",
    "Test connection (one signed call)": "测试连接（一次签名调用）",
    "Test at most %d accounts at a time.": "一次最多测试 %d 个账号。",
    "%(name)s: test failed: %(error)s": "%(name)s：测试失败：%(error)s",
    "%(name)s: cannot test: %(error)s": "%(name)s：无法测试：%(error)s",
    "%(name)s: connection works (%(summary)s)": "%(name)s：连接正常（%(summary)s）",
    "Sync now": "立即同步",
    "%d sync run queued.": "已排队 %d 次同步。",
    "events": "事件",
    "timeline": "时间线",
    "Any time": "不限时间",
    "Today": "今天",
    "Last 7 days": "最近 7 天",
    "Last 30 days": "最近 30 天",
    "Recently updated": "最近更新",
    "Recently created": "最近创建",
    "Name": "名称",
    "Expected 1 or 0.": "应为 1 或 0。",
    "Search": "搜索",
    "Name or job id": "名称或任务 ID",
    "Account": "账号",
    "Cloud": "云",
    "Kind": "类型",
    "Raw state": "原始状态",
    "Batch": "批次",
    "Tag": "标签",
    "Created": "创建时间",
    "Created from": "创建起始",
    "Created to": "创建截止",
    "Updated": "更新时间",
    "Updated from": "更新起始",
    "Updated to": "更新截止",
    "Stuck only": "仅看卡住的",
    "Include gone": "包含已消失的",
    "Sort by": "排序",
    "Not a vendor state.": "不是有效的厂商状态。",
    "A tag cannot contain |.": "标签不能包含 |。",
    "Not a time.": "不是有效的时间。",
    "Not a page cursor.": "不是有效的分页游标。",
    "The end is before the start.": "结束时间早于开始时间。",
    "Assessment job ids": "评估任务 ID",
    "One or more ids, separated by spaces, commas or new lines.": "一个或多个 ID，用空格、逗号或换行分隔。",
    "%(id)s is not a job id.": "%(id)s 不是有效的任务 ID。",
    "Paste at least one job id.": "请至少粘贴一个任务 ID。",
    "At most %(n)d ids at a time.": "一次最多 %(n)d 个 ID。",
    "Time zone": "时区",
    "Language": "语言",
    "endpoint override": "自定义端点",
    "secret key": "密钥（SK）",
    "clear the stored secret key": "清除已保存的密钥",
    "token": "令牌",
    "Huawei X-Auth-Token, or a Tencent temporary-credential session token. Optional.": "华为 X-Auth-Token，或腾讯临时凭证的会话令牌。可选。",
    "clear the stored token": "清除已保存的令牌",
    "job kinds to sync": "要同步的任务类型",
    "None ticked: every kind the provider offers.": "都不勾选：同步该云提供的所有类型。",
    "Currently set. Leave blank to keep it; type a new one to replace it.": "已设置。留空则保持不变；输入新值则替换。",
    "Not set.": "未设置。",
    "Currently set. Leave blank to keep it.": "已设置。留空则保持不变。",
    "At least 30 seconds.": "至少 30 秒。",
    "At least 15 seconds.": "至少 15 秒。",
    "%(provider)s does not offer: %(kinds)s": "%(provider)s 不提供：%(kinds)s",
    "Huawei accounts need a project id.": "华为账号需要项目 ID。",
    "Tencent accounts need a bucket (name-APPID).": "腾讯账号需要存储桶（name-APPID）。",
    "Tencent accounts need a queue id.": "腾讯账号需要队列 ID。",
    "Give a secret key (or a token).": "请提供密钥（或令牌）。",
    "A secret key needs its access key id.": "密钥需要对应的访问密钥 ID（AK）。",
    "Not a region id of this cloud (e.g. cn-north-4, ap-guangzhou).": "不是该云的区域 ID（例如 cn-north-4、ap-guangzhou）。",
    "Avatar training": "数字人形象训练",
    "Voice training": "声音训练",
    "Voice assessment": "声音质量评估",
    "Translation": "翻译",
    "Queued": "排队中",
    "Reviewing": "审核中",
    "Running": "运行中",
    "Needs action": "待处理",
    "Paused": "已暂停",
    "Succeeded": "成功",
    "Failed": "失败",
    "Cancelled": "已取消",
    "Unknown": "未知",
    "name": "名称",
    "provider": "云厂商",
    "region": "区域",
    "Leave empty for the vendor's public endpoint; set it for fakecloud or a proxy.": "留空则使用厂商的公共端点；使用 fakecloud 或代理时填写。",
    "project id": "项目 ID",
    "bucket (name-APPID)": "存储桶（name-APPID）",
    "queue id": "队列 ID",
    "list path": "列表路径",
    "access key id": "访问密钥 ID（AK）",
    "enabled": "启用",
    "sync interval (seconds)": "同步间隔（秒）",
    "sync interval while jobs are in progress (seconds)": "有任务进行中时的同步间隔（秒）",
    "cloud account": "云账号",
    "cloud accounts": "云账号",
    "Can trigger syncs and track short jobs": "可触发同步并跟踪短任务",
    "raw vendor state": "厂商原始状态",
    "vanished from the vendor's list": "已从厂商列表中消失",
    "Vendor op-log": "厂商操作日志",
    "Vendor comment": "厂商评论",
    "Vendor audit result": "厂商审核结果",
    "Observed state change": "观察到的状态变化",
    "Speech rate": "语速",
    "Volume": "音量",
    "Signal-to-noise ratio": "信噪比",
    "Reverberation": "混响",
    "DNSMOS overall": "DNSMOS 综合",
    "DNSMOS background": "DNSMOS 背景",
    "Partial": "部分完成",
    "Skipped (another sync holds the lease)": "已跳过（另一个同步正在进行）",
    "%(d)dd %(h)dh": "%(d)d天%(h)d小时",
    "%(h)dh %(m)02dm": "%(h)d小时%(m)02d分",
    "%(m)dm %(s)02ds": "%(m)d分%(s)02d秒",
    "%(s)ds": "%(s)d秒",
    "Jobs by status, per account and kind": "各账号、各类型的任务状态分布",
    "Expected": "预期",
    "Actual": "实际",
    "Out of range": "超出范围",
    "In range": "在范围内",
    "Expected range and actual value per metric": "各指标的预期范围与实际值",
    "Refresh queued: the job's details will be fetched again shortly.": "已排队刷新：稍后将重新获取该任务的详情。",
    "Bad run id.": "无效的同步运行 ID。",
    "Tracking %(n)d assessment job(s) for %(account)s; they appear after the next sync.": "正在为 %(account)s 跟踪 %(n)d 个评估任务；下次同步后显示。",
    "Preferences saved.": "偏好设置已保存。",
    "Training Ops": "训练运维",
    "Main": "主导航",
    "Overview": "概览",
    "Jobs": "任务",
    "Track short jobs": "跟踪短任务",
    "Admin": "管理后台",
    "Preferences": "偏好设置",
    "Log out": "退出登录",
    "Times shown in %(TIME_ZONE)s.": "时间按 %(TIME_ZONE)s 显示。",
    "Change": "修改",
    "Fresh": "最新",
    "Stale": "过期",
    "Never synced": "从未同步",
    "Job": "任务",
    "State": "状态",
    "In state for": "停留时长",
    "Bad request": "请求有误",
    "Some filters could not be understood:": "部分筛选条件无法识别：",
    "Start again with no filters": "清除筛选重新开始",
    "Raw vendor state": "厂商原始状态",
    "Stuck: over %(limit)s in this state": "卡住：在此状态已超过 %(limit)s",
    "Gone from the vendor's list": "已从厂商列表中消失",
    "Refresh this job": "刷新此任务",
    "Details": "详情",
    "Job id": "任务 ID",
    "Started": "开始时间",
    "Finished": "结束时间",
    "In this state since": "进入当前状态于",
    "Tags": "标签",
    "Edition": "版本",
    "Asset id": "资产 ID",
    "Linked job": "关联任务",
    "not in the cache": "不在缓存中",
    "Error": "错误",
    "First seen": "首次发现",
    "Last synced": "最近同步",
    "details": "详情",
    "Timeline": "时间线",
    "total %(total)s": "共 %(total)s",
    "by %(who)s": "操作者 %(who)s",
    "%(d)s so far": "至今 %(d)s",
    "lasted %(d)s": "持续 %(d)s",
    "Stuck (limit %(limit)s)": "卡住（上限 %(limit)s）",
    "Time in each state": "各状态累计时长",
    "Total time": "累计时长",
    "Stuck": "卡住",
    "No events recorded yet.": "尚无事件记录。",
    "Overall suggestion": "综合建议",
    "Band: expected range. Dot: actual value.": "色带：预期范围。圆点：实际值。",
    "Metric": "指标",
    "Result": "结果",
    "Advice": "建议",
    "Raw payload": "原始数据",
    "Sync health": "同步状况",
    "Freshness": "新鲜度",
    "Last success": "最近成功",
    "Last error": "最近错误",
    "disabled": "已停用",
    "%(ago)s ago": "%(ago)s前",
    "never": "从未",
    "No cloud accounts yet. An admin adds them in the admin site.": "还没有云账号。请管理员在管理后台添加。",
    "Jobs by status": "任务状态分布",
    "Show the numbers as a table": "以表格显示数字",
    "Total": "合计",
    "Nothing synced yet.": "尚未同步任何数据。",
    "Stuck jobs": "卡住的任务",
    "all": "全部",
    "No job is stuck.": "没有卡住的任务。",
    "Recent failures": "最近失败",
    "No failures.": "没有失败。",
    "Clear filters": "清除筛选",
    "More filters": "更多筛选",
    "from": "从",
    "to": "到",
    "Apply": "应用",
    "Results": "结果",
    "Counting…": "正在计数…",
    "Export CSV": "导出 CSV",
    "Back to the first page": "返回第一页",
    "Batch / tags": "批次 / 标签",
    "No jobs match these filters.": "没有符合筛选条件的任务。",
    "Load more": "加载更多",
    "Gone": "已消失",
    "%(shown)s job": "%(shown)s 个任务",
    "Filter by status": "按状态筛选",
    "Save": "保存",
    "Trigger": "触发方式",
    "Outcome": "结果",
    "Duration": "耗时",
    "Pages": "页数",
    "API calls": "API 调用",
    "Seen": "看到",
    "New": "新增",
    "Changed": "变更",
    "Unchanged": "未变",
    "Events": "事件",
    "request id": "请求 ID",
    "No runs yet.": "尚无同步记录。",
    "Sync finished.": "同步完成。",
    "Reload the run history": "刷新同步记录",
    "Sync in progress…": "正在同步…",
    "%(pages)s pages, %(calls)s API calls, %(seen)s seen, %(created)s new, %(updated)s updated": "%(pages)s 页，%(calls)s 次 API 调用，看到 %(seen)s 个，新增 %(created)s 个，更新 %(updated)s 个",
    "MetaStudio has no list of voice-assessment (short) jobs, so the dashboard only knows the ones you tell it about. Paste their ids here; the next sync fetches their results.": "MetaStudio 没有声音质量评估（短任务）的列表接口，所以看板只知道你告诉它的那些任务。请在此粘贴它们的 ID；下次同步会获取结果。",
    "Track these jobs": "跟踪这些任务",
    "%(s)ss": "%(s)s秒",
    "Bad event id.": "无效的事件 ID。",
    "Show %(n)s more step": "再显示 %(n)s 步",
    "Log in": "登录",
    "Your username and password didn't match. Please try again.": "用户名或密码不正确，请重试。",
    "Username": "用户名",
    "Password": "密码",
}


def _unquote(block):
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', block)).replace('\\"', '"').replace("\\n", "\n")


def _quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def main():
    text = PO.read_text()
    missing = []
    entry = re.compile(
        r'(?P<head>(?:#[^\n]*\n)*)msgid (?P<id>(?:"(?:[^"\\]|\\.)*"\n)+)'
        r'(?:msgid_plural (?P<plural>(?:"(?:[^"\\]|\\.)*"\n)+)(?P<strs>(?:msgstr\[\d\] (?:"(?:[^"\\]|\\.)*"\n)+)+)'
        r'|msgstr (?P<str>(?:"(?:[^"\\]|\\.)*"\n)+))'
    )

    def fill(m):
        msgid = _unquote(m.group("id"))
        if msgid == "":
            return m.group(0)
        zh = ZH.get(msgid)
        if zh is None:
            missing.append(msgid)
            return m.group(0)
        head = m.group("head").replace("#, fuzzy\n", "").replace(", fuzzy", "")
        if m.group("plural"):
            # Chinese has one plural form.
            return f"{head}msgid {m.group('id')}msgid_plural {m.group('plural')}msgstr[0] {_quote(zh)}\n"
        return f"{head}msgid {m.group('id')}msgstr {_quote(zh)}\n"

    text = entry.sub(fill, text)
    text = text.replace('"Plural-Forms: nplurals=2; plural=(n != 1);\\n"', '"Plural-Forms: nplurals=1; plural=0;\\n"')
    text = re.sub(r'"Language: [^"]*\\n"', lambda m: '"Language: zh_Hans\\n"', text)
    text = text.replace('#, fuzzy\nmsgid ""', 'msgid ""')
    PO.write_text(text)
    if missing:
        print("untranslated:", *missing, sep="\n  ")
        sys.exit(1)


if __name__ == "__main__":
    main()
