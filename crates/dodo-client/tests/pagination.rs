//! Pagination against a real local server: page-number walks (0-based, no skipped page,
//! early stop on short pages) and cursor walks (done, null cursor, repeated cursor).

mod support;

use std::collections::BTreeMap;

use dodo_client::{CursorListCall, ListCall, Method, RequestSpec};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use support::{Recorded, Reply, Server};

#[derive(Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
struct Item {
    id: u32,
}

#[derive(Serialize, Default)]
struct Query {
    page_number: Option<u32>,
    page_size: Option<u32>,
    status: Option<String>,
}

/// Serves `total` items, `per_page` per page, ignoring any page_size (0-based pages).
fn numbered(total: u32, per_page: u32) -> impl Fn(&Recorded) -> Reply + Send + Sync {
    move |r: &Recorded| {
        let page: u32 = r
            .query_param("page_number")
            .map(|p| p.parse().unwrap())
            .unwrap_or(0);
        let items: Vec<_> = (page * per_page..((page + 1) * per_page).min(total))
            .map(|id| serde_json::json!({"id": id}))
            .collect();
        Reply::json(200, serde_json::json!({"items": items}))
    }
}

fn list(client: &dodo_client::Client, query: &Query) -> ListCall<Item> {
    ListCall::new(
        client,
        RequestSpec::new(Method::GET, Ok("/payments".into())).query(query),
    )
}

fn page_numbers(server: &Server) -> Vec<Option<String>> {
    server
        .requests()
        .iter()
        .map(|r| r.query_param("page_number"))
        .collect()
}

#[tokio::test]
async fn omitted_page_number_walks_pages_0_1_2_without_skipping() {
    let server = Server::with_responder(numbered(7, 3)).await;
    let query = Query {
        status: Some("succeeded".into()),
        ..Default::default()
    };
    let items: Vec<Item> = list(&server.client(), &query)
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(items, (0..7).map(|id| Item { id }).collect::<Vec<_>>());
    // Page 0 (implicit), 1, 2, then an empty page 3 ends the walk.
    assert_eq!(
        page_numbers(&server),
        vec![None, Some("1".into()), Some("2".into()), Some("3".into())]
    );
    // Filters are kept on every page.
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.query_param("status").as_deref() == Some("succeeded"))
    );
}

#[tokio::test]
async fn short_page_ends_the_walk_when_page_size_is_given() {
    let server = Server::with_responder(numbered(7, 3)).await;
    let query = Query {
        page_size: Some(3),
        ..Default::default()
    };
    let items = list(&server.client(), &query).collect_all().await.unwrap();
    assert_eq!(items.len(), 7);
    // 3 + 3 + 1 items: the short third page ends it, no extra empty request.
    assert_eq!(
        page_numbers(&server),
        vec![None, Some("1".into()), Some("2".into())]
    );
}

#[tokio::test]
async fn starting_page_is_respected_and_pages_can_be_walked_by_hand() {
    let server = Server::with_responder(numbered(9, 3)).await;
    let query = Query {
        page_number: Some(1),
        page_size: Some(3),
        ..Default::default()
    };
    let first = list(&server.client(), &query).await.unwrap();
    assert_eq!(first.page_number(), Some(1));
    assert_eq!(
        first.items,
        vec![Item { id: 3 }, Item { id: 4 }, Item { id: 5 }]
    );
    assert!(first.has_next_page());
    let second = first.next_page().await.unwrap().unwrap();
    assert_eq!(second.page_number(), Some(2));
    assert_eq!(second.items.len(), 3);
    let third = second.next_page().await.unwrap().unwrap();
    assert!(third.items.is_empty());
    assert!(!third.has_next_page());
    assert!(third.next_page().await.unwrap().is_none());
    // next_page does not consume: asking again refetches the same page.
    let again = first.next_page().await.unwrap().unwrap();
    assert_eq!(again.items, second.items);
}

#[tokio::test]
async fn every_item_exactly_once_over_many_pages() {
    let server = Server::with_responder(numbered(95, 10)).await;
    let items = list(&server.client(), &Query::default())
        .collect_all()
        .await
        .unwrap();
    let mut counts = BTreeMap::new();
    for item in &items {
        *counts.entry(item.id).or_insert(0) += 1;
    }
    assert_eq!(counts.len(), 95);
    assert!(counts.values().all(|&c| c == 1));
    assert_eq!(server.requests().len(), 11);
}

#[tokio::test]
async fn page_stream_and_error_mid_walk() {
    let server = Server::start().await;
    server
        .push(Reply::json(200, serde_json::json!({"items": [{"id": 1}]})))
        .push(Reply::json(404, serde_json::json!({"code": "GONE"})));
    let client = server.builder().max_retries(0).build().unwrap();
    let mut stream = list(&client, &Query::default()).into_stream();
    assert_eq!(stream.try_next().await.unwrap(), Some(Item { id: 1 }));
    let err = stream.try_next().await.unwrap_err();
    assert!(err.is_not_found());
    assert!(stream.try_next().await.unwrap().is_none());

    let server = Server::with_responder(numbered(4, 2)).await;
    let pages: Vec<_> = list(&server.client(), &Query::default())
        .pages()
        .try_collect()
        .await
        .unwrap();
    let sizes: Vec<usize> = pages.iter().map(|p| p.items.len()).collect();
    assert_eq!(sizes, vec![2, 2, 0]);
}

#[derive(Serialize, Default)]
struct CursorQuery {
    iterator: Option<String>,
    limit: Option<u32>,
}

fn cursor_list(client: &dodo_client::Client, query: &CursorQuery) -> CursorListCall<Item> {
    CursorListCall::new(
        client,
        RequestSpec::new(Method::GET, Ok("/webhooks".into())).query(query),
    )
}

fn cursor_page(ids: &[u32], done: bool, iterator: Option<&str>) -> Reply {
    let data: Vec<_> = ids.iter().map(|id| serde_json::json!({"id": id})).collect();
    Reply::json(
        200,
        serde_json::json!({"data": data, "done": done, "iterator": iterator, "prev_iterator": null}),
    )
}

fn iterators(server: &Server) -> Vec<Option<String>> {
    server
        .requests()
        .iter()
        .map(|r| r.query_param("iterator"))
        .collect()
}

#[tokio::test]
async fn cursor_walk_follows_iterator_until_done() {
    let server = Server::start().await;
    server
        .push(cursor_page(&[1, 2], false, Some("c1")))
        .push(cursor_page(&[3, 4], false, Some("c2")))
        .push(cursor_page(&[5], true, Some("c3")));
    let query = CursorQuery {
        limit: Some(2),
        ..Default::default()
    };
    let items = cursor_list(&server.client(), &query)
        .collect_all()
        .await
        .unwrap();
    assert_eq!(
        items.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(
        iterators(&server),
        vec![None, Some("c1".into()), Some("c2".into())]
    );
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.query_param("limit").as_deref() == Some("2"))
    );
}

#[tokio::test]
async fn cursor_walk_stops_on_null_or_empty_iterator() {
    let server = Server::start().await;
    server
        .push(cursor_page(&[1], false, Some("c1")))
        .push(cursor_page(&[2], false, None));
    let items = cursor_list(&server.client(), &CursorQuery::default())
        .collect_all()
        .await
        .unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(server.requests().len(), 2);

    let server = Server::start().await;
    server.push(cursor_page(&[1], false, Some("")));
    let first = cursor_list(&server.client(), &CursorQuery::default())
        .await
        .unwrap();
    assert_eq!(first.is_done(), Some(false));
    assert_eq!(first.next_cursor(), Some(""));
    assert!(!first.has_next_page());
}

#[tokio::test]
async fn cursor_walk_stops_on_a_repeated_iterator() {
    let server = Server::start().await;
    server
        .push(cursor_page(&[1], false, Some("c1")))
        .push(cursor_page(&[2], false, Some("c2")))
        .push(cursor_page(&[3], false, Some("c1")))
        .push(cursor_page(&[99], false, Some("c2")));
    let items = cursor_list(&server.client(), &CursorQuery::default())
        .collect_all()
        .await
        .unwrap();
    assert_eq!(
        items.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(
        iterators(&server),
        vec![None, Some("c1".into()), Some("c2".into())]
    );

    // Same cursor echoed back immediately.
    let server = Server::start().await;
    server
        .push(cursor_page(&[1], false, Some("same")))
        .push(cursor_page(&[2], false, Some("same")));
    let items = cursor_list(&server.client(), &CursorQuery::default())
        .collect_all()
        .await
        .unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_server_ignoring_page_number_does_not_loop_forever() {
    let server = Server::with_responder(|_: &Recorded| {
        Reply::json(200, serde_json::json!({"items": [{"id": 1}, {"id": 2}]}))
    })
    .await;
    let items = list(&server.client(), &Query::default())
        .collect_all()
        .await
        .unwrap();
    assert_eq!(items, vec![Item { id: 1 }, Item { id: 2 }]);
    assert_eq!(server.requests().len(), 2);
}
