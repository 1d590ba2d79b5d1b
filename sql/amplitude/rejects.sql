-- Lines of the export that could not be loaded, with the reason, where they came from, and
-- their text. Rows rejected here are counted in each hour's manifest (load_log.rejects).
SELECT
    project_id,
    upload_hour::TIMESTAMP AS upload_hour,
    member,
    line_no,
    reason,
    line
FROM read_json(
    {rejects_files},
    format = 'newline_delimited',
    columns = {
        project_id: 'BIGINT', upload_hour: 'VARCHAR', member: 'VARCHAR', line_no: 'BIGINT',
        reason: 'VARCHAR', line: 'VARCHAR'
    }
)
