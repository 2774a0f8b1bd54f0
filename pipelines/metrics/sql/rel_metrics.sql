-- rel_metrics: every released metric, one row per wave x group x metric (long layout), BEFORE
-- confidentiality (pipelines/release/privacy.py suppresses, bands and derives shrinkage and change).
--
-- One scan of responses: grouping sets give the six levels (organisation, site, department keyed
-- by site + department, role, site x role, department x role; never more than two dimensions
-- crossed). Blocks in double braces are filled by pipelines/metrics/released.py from
-- pipelines/contract/__init__.py (items, unfavourable rules, Mini-Z, ITL threshold), never re-typed here.
-- Missing answers stay NULL: a NULL flag is not counted as answered and never as unfavourable.

with

source_responses as (
    select * from responses
),

scored as (
    select
        wave,
        site,
        department,
        role,
        {{ scored_columns }}
    from source_responses
),

grouped as (
    select
        wave,
        site,
        department,
        role,
        grouping_id(site, department, role) as grouping_bits,
        count(*) as n,
        {{ aggregates }}
    from scored
    group by {{ grouping_sets }}
),

unpivoted as (
    select
        wave,
        site,
        department,
        role,
        grouping_bits,
        n,
        unnest([
            {{ metric_structs }}
        ]) as m
    from grouped
),

final as (
    select
        wave,
        case grouping_bits
            when 7 then 'organisation'
            when 3 then 'site'
            when 1 then 'department'
            when 6 then 'role'
            when 2 then 'site_role'
            when 0 then 'department_role'
        end as level,
        site,
        department,
        role,
        n,
        m.metric as metric,
        m.stat as stat,
        m.answered as answered,
        case
            when m.stat = 'rate' then m.x / nullif(m.answered, 0)
            else m.x
        end as value,
        case when m.stat = 'rate' then wilson_lo(m.x, m.answered) end as lo,
        case when m.stat = 'rate' then wilson_hi(m.x, m.answered) end as hi
    from unpivoted
)

select * from final
